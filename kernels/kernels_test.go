package kernels

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The kernels Signatures knows are exactly those the source defines (found
// here by a looser pattern than the parser's, so a kernel the parser
// skipped fails), and the committed PTX defines every one of them
// (ci/test.sh also regenerates the PTX and compares it byte for byte where
// nvcc is installed).
func TestNamesMatchSourceAndPTX(t *testing.T) {
	var inSource []string
	for _, m := range regexp.MustCompile(`KERNEL\s+void\s+(\w+)\s*\(`).FindAllStringSubmatch(stripComments(source), -1) {
		inSource = append(inSource, m[1])
	}
	slices.Sort(inSource)
	if names := Names(); !slices.Equal(names, inSource) {
		t.Errorf("Names() %v, source defines %v", names, inSource)
	}
	for _, n := range Names() {
		if !strings.Contains(PTX(), ".entry "+n+"(") {
			t.Errorf("nn.ptx has no kernel %s: run go generate ./kernels", n)
		}
	}
	if p := OpenCL(); !strings.Contains(p, "#define KERNEL") || !strings.Contains(p, "#define ACT_TANH") {
		t.Error("the OpenCL program lacks its prelude or codes.h")
	}
}

// Every kernel fits the CUDA backend's argument slots and CUDA's 4 KiB
// limit on a launch's parameters (each parameter aligned to its size).
func TestArgumentLimits(t *testing.T) {
	for name, params := range Signatures() {
		if len(params) > MaxArgs {
			t.Errorf("kernel %s takes %d arguments, more than MaxArgs = %d", name, len(params), MaxArgs)
		}
		bytes := 0
		for _, p := range params {
			n := p.Kind.Bytes()
			bytes = (bytes+n-1)/n*n + n
		}
		if bytes > 4096 {
			t.Errorf("kernel %s has %d bytes of parameters, over CUDA's 4096", name, bytes)
		}
	}
}

func TestSignatures(t *testing.T) {
	sig := Signatures()
	want := []Param{{"dist", Int}, {"n", Int}, {"seed_lo", Int}, {"seed_hi", Int}, {"off_lo", Int},
		{"off_hi", Int}, {"a", Float}, {"b", Float}, {"dst", Buffer}}
	if got := sig["random_fill"]; !slices.Equal(got, want) {
		t.Errorf("random_fill: %v, want %v", got, want)
	}
	sig["random_fill"][0].Kind = Buffer // the caller's copy
	if Signatures()["random_fill"][0].Kind != Int {
		t.Error("Signatures returned the package's own map")
	}
	// Comments (inside a multi-line parameter list, or around a kernel
	// that is commented out), spacing and an empty list.
	src := `/* KERNEL void gone(const int n) {} */
// KERNEL void gone2(const int n) {}
/* an old version:
KERNEL void f(const int n) {}
*/
KERNEL void f(const int n, /* the count */
              GLOBAL const float *x, // input
              GLOBAL   float*y) {}
  KERNEL  void g( ) {}
KERNEL void h(void) {}`
	got, err := parse(src)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	wantF := []Param{{"n", Int}, {"x", Buffer}, {"y", Buffer}}
	if len(got) != 3 || !slices.Equal(got["f"], wantF) || got["g"] == nil || len(got["g"]) != 0 || got["h"] == nil || len(got["h"]) != 0 {
		t.Errorf("parse(%q) = %v, want f %v and g, h without parameters", src, got, wantF)
	}
	for _, bad := range []string{
		"KERNEL void f(const int n, GLOBAL int* x) {}",
		"KERNEL void f(float x) {}",
		"KERNEL void f(const int n) {}\nKERNEL void f(const int n) {}",
		"no kernels",
	} {
		if _, err := parse(bad); err == nil {
			t.Errorf("parse(%q) accepted it", bad)
		}
	}
}

// codes.h is what Codes writes: run go generate ./kernels after changing a
// code in package backend or here.
func TestCodesHeaderFresh(t *testing.T) {
	committed, err := os.ReadFile("codes.h")
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != Codes() || codesHeader != Codes() {
		t.Errorf("codes.h differs from kernels.Codes(): run go generate ./kernels\ncommitted:\n%s\nwant:\n%s", committed, Codes())
	}
	for _, want := range []string{"#define ACT_LEAKYRELU 3", "#define LOSS_BCE_WITH_LOGITS 2", "#define DIST_BERNOULLI 2", "#define ERR_ROW_INDEX 2"} {
		if !strings.Contains(Codes(), want+"\n") {
			t.Errorf("Codes() lacks %q", want)
		}
	}
}
