//go:build opencl

package opencl

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	_ "github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/kernels"
)

func TestBuildErrorCarriesTheLog(t *testing.T) {
	_, d, err := choose(false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := programFor(0, d)
	if err != nil {
		t.Fatal(err)
	}
	_, err = build(p.ctx, d, kernels.OpenCL()+"\nKERNEL void broken(GLOBAL float* x) { x[0] = undefined_name; }\n")
	if err == nil || !strings.Contains(err.Error(), "undefined_name") {
		t.Fatalf("error %v, want the compiler log naming undefined_name", err)
	}
}

// TestNoPlatform runs this test binary again with an empty ICD directory:
// OpenCL then has no platform, Open must say how to install one, and
// Open("auto") must fall back to cpu with that reason (after naming cuda
// as not compiled in: this binary has no -tags cuda).
func TestNoPlatform(t *testing.T) {
	if os.Getenv("DIYNN_TEST_NO_PLATFORM") == "1" {
		_, err := Open(false)
		if err == nil || !strings.Contains(err.Error(), "pocl-opencl-icd") {
			t.Fatalf("Open: %v, want advice to install an ICD", err)
		}
		b, skips, err := backend.OpenAuto("auto")
		if err != nil || b.Name() != "cpu" || len(skips) != 2 || skips[0].Name != "cuda" || skips[1].Name != "opencl" {
			t.Fatalf("auto: %v, skips %v", err, skips)
		}
		t.Logf("auto fell back to cpu: %v", skips)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoPlatform$", "-test.v")
	cmd.Env = append(os.Environ(), "DIYNN_TEST_NO_PLATFORM=1", "OCL_ICD_VENDORS="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("%s", out)
}
