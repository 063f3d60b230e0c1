package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/diynn/diynn/tsne"
)

// writePoints writes n labelled 3-D points in three clusters to dir/name.
func writePoints(t *testing.T, dir, name string, n int) string {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("z0,z1,z2,label\n")
	for i := 0; i < n; i++ {
		c := i % 3
		fmt.Fprintf(&b, "%g,%g,%g,class%d\n", float64(10*c)+float64(i%7)/7, float64(i%5)/5, float64(-5*c)+float64(i%3)/3, c)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// diynnLines is what the command itself said on stderr, without the flag
// package's usage listing (which names every flag).
func diynnLines(stderr string) string {
	var said []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "diynn: ") {
			said = append(said, l)
		}
	}
	return strings.Join(said, "\n")
}

// entries lists a directory's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// Every numeric flag against the values a careless or hostile user might
// give: each is refused with exit status 2 and a message naming the flag,
// before any output is written.
func TestTsneBadFlagValues(t *testing.T) {
	pointer := regexp.MustCompile(`0x[0-9a-f]{6,}`) // as in a dump of a struct with an io.Writer
	values := []string{"NaN", "Inf", "-Inf", "-5", "0", "1e308", "", "abc", "1e", "0x", "99999999999999999999999", "1.5"}
	valid := map[string][]string{ // the values above that the flag accepts
		"theta":        {"0"}, // exact t-SNE
		"seed":         {"0"},
		"perplexity":   {"1.5"},
		"exaggeration": {"1.5"},
		"lr":           {"1.5"},
	}
	for _, name := range []string{"perplexity", "iters", "theta", "exaggeration", "exaggeration-iters", "lr", "dims", "seed", "method", "pca", "trust-subset"} {
		for _, v := range values {
			if slices.Contains(valid[name], v) {
				continue
			}
			t.Run(name+"="+v, func(t *testing.T) {
				dir := t.TempDir()
				in := writePoints(t, dir, "points.csv", 60)
				names := regexp.MustCompile(`(^|\s)-` + regexp.QuoteMeta(name) + `[\s:]`) // not -exaggeration-iters for -iters
				// Valid values of the other flags, for a run that would succeed
				// quickly but for the one under test.
				flags := map[string]string{"perplexity": "5", "iters": "50"}
				flags[name] = v
				args := []string{"tsne", "-quiet"}
				for f, fv := range flags {
					args = append(args, "-"+f, fv)
				}
				inputs := []string{in}
				if !(name == "perplexity" && (v == "1e308" || v == "99999999999999999999999")) { // too large for the input: known once it is read
					inputs = append(inputs, filepath.Join(dir, "missing.csv")) // the flag is checked first
				}
				for _, in := range inputs {
					code, _, stderr := runCLI(append(args, "-in", in)...)
					said := diynnLines(stderr)
					if code != 2 || !names.MatchString(said) {
						t.Errorf("-%s %q -in %s: exit %d, %q; want exit 2 and a message naming -%s", name, v, filepath.Base(in), code, said, name)
					}
					if strings.Contains(stderr, "panic") || strings.Contains(said, "{") || pointer.MatchString(said) {
						t.Errorf("-%s %q: %q", name, v, stderr)
					}
				}
				if got := entries(t, dir); !slices.Equal(got, []string{"points.csv"}) {
					t.Errorf("-%s %q left %v", name, v, got)
				}
			})
		}
	}
}

// Mistakes about the files and about the flags together: exit 2, a clear
// message, nothing written and the input untouched.
func TestTsneRefuses(t *testing.T) {
	dir := t.TempDir()
	in := writePoints(t, dir, "victim.csv", 60)
	inBytes, _ := os.ReadFile(in)
	writeIn := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	headerless := writeIn("headerless.csv", "1,2,3\n4,5,6\n7,8,9\n10,11,12\n13,14,15\n")
	nan := writeIn("nan.csv", "z0,label\n1,a\nNaN,b\n")
	empty := writeIn("empty.csv", "")
	three := writeIn("three.csv", "z0,label\n1,a\n2,b\n3,a\n")
	asPNG := writeIn("victim2.png", string(inBytes))   // a CSV that happens to be named .png
	named := filepath.Join(t.TempDir(), "tsne-2d.csv") // would be the default output
	os.WriteFile(named, inBytes, 0o644)
	alias := filepath.Join(dir, "alias.csv")
	symlinked := os.Symlink(in, alias) == nil
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	os.Mkdir(filepath.Join(dir, "blocked.csv"), 0o755)
	big := filepath.Join(t.TempDir(), "big.csv")
	sparse := false
	if f, err := os.Create(big); err == nil {
		sparse = f.Truncate(tsneMaxInputBytes+1) == nil
		f.Close()
	}
	// 11600 points with perplexity 3866: 11600 × 11598 neighbour pairs, past tsneMaxPairs.
	var many bytes.Buffer
	many.WriteString("z0\n")
	for i := 0; i < 11600; i++ {
		fmt.Fprintf(&many, "%d\n", i)
	}
	manyPath := writeIn("many.csv", many.String())
	exactTooMany := writePoints(t, t.TempDir(), "exact.csv", tsneMaxExactPoints+1)

	cases := []struct {
		name string
		args []string
		want string
		skip bool
	}{
		{"no -in", []string{}, "-in FILE is required", false},
		{"missing -in", []string{"-in", filepath.Join(dir, "nope.csv")}, "nope.csv: no such file or directory", false},
		{"directory -in", []string{"-in", sub}, "is a directory, not a CSV file", false},
		{"/dev/zero -in", []string{"-in", "/dev/zero"}, "/dev/zero is a character device, not a CSV file", !exists("/dev/zero")},
		{"huge -in", []string{"-in", big}, "more than the limit of 4.3 GB (4294967296 bytes) for a CSV file", !sparse},
		{"headerless", []string{"-in", headerless}, "line 1 looks like data, not a header row", false},
		{"NaN in the data", []string{"-in", nan}, `line 3, column "z0": "NaN" is not a finite number`, false},
		{"empty", []string{"-in", empty}, "empty CSV", false},
		{"three points", []string{"-in", three, "-perplexity", "1"}, "three.csv holds 3 points: t-SNE needs at least 4", false},
		{"-out is -in", []string{"-in", in, "-out", strings.TrimSuffix(in, ".csv")}, "would overwrite -in", false},
		{"-out.png is -in", []string{"-in", asPNG, "-out", strings.TrimSuffix(asPNG, ".png")}, "would overwrite -in", false},
		{"-out relative", []string{"-in", in, "-out", filepath.Join(dir, "sub", "..", "victim")}, "would overwrite -in", false},
		{"-out a symlink to -in", []string{"-in", in, "-out", strings.TrimSuffix(alias, ".csv")}, "would overwrite -in", !symlinked},
		{"default -out is -in", []string{"-in", named}, "would overwrite -in", false},
		{"-out in a missing directory", []string{"-in", in, "-out", filepath.Join(dir, "typo", "emb")}, "directory " + filepath.Join(dir, "typo"), false},
		{"-out a directory", []string{"-in", in, "-out", sub + "/"}, "names a directory", false},
		{"-out.csv a directory", []string{"-in", in, "-out", filepath.Join(dir, "blocked")}, "blocked.csv is a directory, in the way", false},
		{"-exaggeration-iters past -iters", []string{"-in", in, "-iters", "50", "-exaggeration-iters", "60"}, "-exaggeration-iters 60: more than the 50 iterations of -iters", false},
		{"-perplexity for 60 points", []string{"-in", in, "-perplexity", "20"}, "-perplexity 20 is too large for 60 points", false},
		{"-theta 0 on too many points", []string{"-in", exactTooMany, "-theta", "0"}, "-theta 0 (exact t-SNE)", false},
		{"too many neighbour pairs", []string{"-in", manyPath, "-perplexity", "3866"}, "11600 points × 11598 neighbours", false},
		{"-theta -1", []string{"-in", in, "-theta", "-1"}, "-theta -1: want 0 for exact t-SNE", false},
		{"-theta 1.5", []string{"-in", in, "-theta", "1.5"}, "Barnes-Hut accuracy in (0, 1]", false},
		{"-perplexity 0.5", []string{"-in", in, "-perplexity", "0.5"}, "-perplexity 0.5: want a finite number, at least 1", false},
		{"-exaggeration 0.5", []string{"-in", in, "-exaggeration", "0.5"}, "-exaggeration 0.5: want a finite number from 1", false},
		{"-exaggeration-iters 0", []string{"-in", in, "-exaggeration-iters", "0"}, "use -exaggeration 1", false},
		{"-lr 0", []string{"-in", in, "-lr", "0"}, "-lr 0: want auto, or a positive finite number", false},
		{"-iters 0", []string{"-in", in, "-iters", "0"}, "-iters 0: want 1 to 1000000 iterations", false},
		{"extra argument", []string{"-in", in, "victim.csv"}, `unexpected argument "victim.csv"`, false},
		{"-pca 0", []string{"-in", in, "-pca", "0"}, "-pca 0: want at least 1 principal component", false},
		{"-pca past the columns", []string{"-in", in, "-pca", "4"}, "-pca 4: -in " + in + " has only 3 feature columns", false},
		{"-method fft in 3-D", []string{"-in", in, "-method", "fft", "-dims", "3"}, "-method fft embeds in 2 dimensions", false},
		{"-method fft exact", []string{"-in", in, "-method", "fft", "-theta", "0"}, "-method fft: conflicts with -theta 0", false},
		{"-method bh exact", []string{"-in", in, "-method", "bh", "-theta", "0"}, "-method bh: conflicts with -theta 0", false},
		{"-method tree", []string{"-in", in, "-method", "tree"}, "-method tree: want auto, bh or fft", false},
		{"-lr fast", []string{"-in", in, "-lr", "fast"}, "-lr fast: want auto, or a positive finite number", false},
		{"ragged rows", []string{"-in", writeIn("ragged.csv", "z0,z1,label\n1,2,a\n3,b\n")}, "line 3", false},
		{"one row", []string{"-in", writeIn("one.csv", "z0,label\n1,a\n")}, "one.csv holds 1 point: t-SNE needs at least 4", false},
	}
	if tsne.MaxRate != 1e9 {
		t.Errorf("tsne.MaxRate is %g: update the -lr and -exaggeration messages and help, which say 1e9", tsne.MaxRate)
	}
	if os.Geteuid() == 0 { // root writes anywhere, but not in sysfs
		if st, err := os.Stat("/sys"); err == nil && st.IsDir() {
			cases = append(cases, struct {
				name string
				args []string
				want string
				skip bool
			}{"-out unwritable", []string{"-in", in, "-out", "/sys/diynn-emb"}, "cannot write in /sys", false})
		} else {
			t.Log("-out unwritable: skipped as root")
		}
	} else {
		ro := filepath.Join(t.TempDir(), "ro")
		os.Mkdir(ro, 0o555)
		cases = append(cases, struct {
			name string
			args []string
			want string
			skip bool
		}{"-out unwritable", []string{"-in", in, "-out", filepath.Join(ro, "emb")}, "cannot write in " + ro, false})
	}
	if mkfifo, err := exec.LookPath("mkfifo"); err == nil {
		fifo := filepath.Join(t.TempDir(), "fifo.csv")
		if exec.Command(mkfifo, fifo).Run() == nil {
			cases = append(cases, struct {
				name string
				args []string
				want string
				skip bool
			}{"named pipe -in", []string{"-in", fifo}, "is a named pipe (FIFO), not a CSV file", false})
		}
	}
	before := entries(t, dir)
	for _, c := range cases {
		if c.skip {
			t.Logf("%s: skipped here", c.name)
			continue
		}
		// A valid -perplexity, so that a missed check would let the run
		// succeed (and overwrite what it should not) rather than fail.
		args := append([]string{"tsne", "-iters", "50", "-perplexity", "5", "-quiet"}, c.args...)
		type result struct {
			code   int
			stderr string
		}
		done := make(chan result, 1)
		go func() { code, _, stderr := runCLI(args...); done <- result{code, stderr} }()
		var code int
		var stderr string
		select {
		case r := <-done:
			code, stderr = r.code, r.stderr
		case <-time.After(30 * time.Second): // a named pipe opened for reading blocks
			t.Fatalf("%s: diynn %v still running after 30s", c.name, args)
		}
		said := diynnLines(stderr)
		if code != 2 || !strings.Contains(said, c.want) {
			t.Errorf("%s: exit %d, %q; want exit 2 and %q", c.name, code, said, c.want)
		}
	}
	if got := entries(t, dir); !slices.Equal(got, before) {
		t.Errorf("the refused runs changed %s: %v, was %v", dir, got, before)
	}
	if b, _ := os.ReadFile(in); !bytes.Equal(b, inBytes) {
		t.Error("victim.csv changed")
	}
	if b, _ := os.ReadFile(named); !bytes.Equal(b, inBytes) {
		t.Error("tsne-2d.csv (an input at the default output) changed")
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// A short successful run: -iters below the default -exaggeration-iters
// shrinks it rather than failing, and both outputs appear.
func TestTsneShortRun(t *testing.T) {
	dir := t.TempDir()
	in := writePoints(t, dir, "points.csv", 60)
	out := filepath.Join(dir, "emb")
	code, stdout, stderr := runCLI("tsne", "-in", in, "-perplexity", "5", "-iters", "50", "-out", out, "-quiet")
	m := regexp.MustCompile(`KL divergence ([0-9.]+);`).FindStringSubmatch(stdout) // as reproduce reads it
	if code != 0 || m == nil || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var got map[string]any
	js, err := os.ReadFile(out + ".json")
	if err == nil {
		err = json.Unmarshal(js, &got)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"n", "dims", "method", "perplexity", "iters", "kl", "trustworthiness", "knn_accuracy", "seconds", "learning_rate"} {
		if _, ok := got[key]; !ok {
			t.Errorf("%s.json has no %q: %s", out, key, js)
		}
	}
	if got["n"] != 60.0 || got["method"] != "bh" || fmt.Sprintf("%.4f", got["kl"]) != m[1] || got["learning_rate"] != 50.0 {
		t.Errorf("%s.json: %s; stdout %s", out, js, stdout)
	}
	for _, key := range []string{"trustworthiness", "knn_accuracy"} {
		if v, ok := got[key].(float64); !ok || !(v > 0.5 && v <= 1) {
			t.Errorf("%s.json: %s %v", out, key, got[key])
		}
	}
	csv, err := os.ReadFile(out + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(csv)), "\n"); len(lines) != 61 || lines[0] != "t0,t1,label" {
		t.Errorf("%s.csv: %d lines, header %q", out, len(lines), lines[0])
	}
	if st, err := os.Stat(out + ".png"); err != nil || st.Size() == 0 {
		t.Errorf("%s.png: %v", out, err)
	}
	if got := entries(t, dir); !slices.Equal(got, []string{"emb.csv", "emb.json", "emb.png", "points.csv"}) {
		t.Errorf("left %v", got)
	}
}

// -pca, -method fft and the progress lines: the command says which method
// ran and why, prints progress with the time left, and records it all.
func TestTsneMethodsAndPCA(t *testing.T) {
	dir := t.TempDir()
	in := writePoints(t, dir, "points.csv", 60)
	out := filepath.Join(dir, "emb")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-method", "fft", "-pca", "2", "-lr", "100"}, []string{"PCA: 3 → 2 dimensions", "method fft (as asked), learning rate 100",
			"iteration   50 of 60: KL divergence", "s left)", "method fft, trustworthiness"}},
		{[]string{"-pca", "3"}, []string{"method bh (auto: 60 points, fewer than the 500 where FFT wins), learning rate 50"}},
		{[]string{"-dims", "3", "-method", "auto"}, []string{"method bh (auto: 3-D maps use Barnes-Hut)"}},
	} {
		args := append([]string{"tsne", "-in", in, "-perplexity", "5", "-iters", "60", "-out", out}, c.args...)
		code, stdout, stderr := runCLI(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s\n%s", c.args, code, stdout, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: no %q in\n%s", c.args, w, stdout)
			}
		}
	}
	js, _ := os.ReadFile(out + ".json")
	if !strings.Contains(string(js), `"dims": 3`) || !strings.Contains(string(js), `"method": "bh"`) {
		t.Errorf("%s.json: %s", out, js)
	}
}

// Package tsne's configuration errors become usage errors naming the flag.
func TestTsneConfigErrorsNameTheFlag(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&tsne.ConfigError{Field: "LearningRate", Value: "-5", Want: "want more"}, "-lr -5: want more"},
		{&tsne.ConfigError{Field: "EarlyExaggeration", Value: "0.5", Want: "w"}, "-exaggeration 0.5: w"},
		{&tsne.ConfigError{Field: "Theta", Value: "-1", Want: "too many points"}, "-theta 0: too many points"},
		{fmt.Errorf("wrapped: %w", &tsne.ConfigError{Field: "Perplexity", Value: "9", Want: "too large"}), "-perplexity 9: too large"},
	} {
		var ue usageError
		if err := tsneUsage(c.err); !errors.As(err, &ue) || err.Error() != c.want {
			t.Errorf("%v: %v (a usage error: %v), want %q", c.err, err, errors.As(err, &ue), c.want)
		}
	}
	plain := errors.New("disk full")
	if err := tsneUsage(plain); err != plain {
		t.Errorf("a runtime error became %v", err)
	}
}
