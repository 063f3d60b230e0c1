package npy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diynn/diynn/internal/testenv"
)

func TestHeaderIsAligned(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, []float32{1, 2, 3, 4, 5, 6}, 2, 3); err != nil {
		t.Fatal(err)
	}
	hl := int(b.Bytes()[8]) | int(b.Bytes()[9])<<8
	if (10+hl)%64 != 0 || b.Len() != 10+hl+24 {
		t.Errorf("header length %d, total %d", hl, b.Len())
	}
	if err := Write(&b, []float32{1}, 2, 3); err == nil {
		t.Error("a wrong shape was accepted")
	}
}

// TestNumpyLoads checks the file with numpy itself (Debian python3-numpy;
// ci/test.sh installs it).
func TestNumpyLoads(t *testing.T) {
	python := testenv.Python(t, "numpy")
	path := filepath.Join(t.TempDir(), "x.npy")
	var b bytes.Buffer
	Write(&b, []float32{1.5, -2, 3, 0.25, 7, 8}, 3, 2)
	os.WriteFile(path, b.Bytes(), 0o644)
	out, err := exec.Command(python, "-c",
		"import numpy,sys; a=numpy.load(sys.argv[1]); print(a.dtype, a.shape, a[0,0], a[1,1], a[2,1])", path).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "float32 (3, 2) 1.5 0.25 8.0" {
		t.Errorf("numpy read: %q, %v", out, err)
	}
}
