//go:build opencl

package opencl_test

import (
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/backendtest"
	"github.com/diynn/diynn/backend/opencl"
	"github.com/diynn/diynn/nn/nntest"
)

func open(t *testing.T) backend.Backend {
	b, err := opencl.Open(false)
	if err != nil {
		t.Fatalf("opening OpenCL (CI installs pocl-opencl-icd): %v", err)
	}
	t.Logf("device: %s", b.Device())
	return b
}

func TestConformance(t *testing.T) {
	open(t).Close()
	backendtest.Run(t, func() (backend.Backend, error) { return opencl.Open(false) })
}

func TestGradients(t *testing.T) {
	b := open(t)
	defer b.Close()
	t.Run("Modules", func(t *testing.T) { nntest.CheckModules(t, b) })
	t.Run("Losses", func(t *testing.T) { nntest.CheckLosses(t, b) })
}

func TestGoldenPyTorch(t *testing.T) {
	b := open(t)
	defer b.Close()
	nntest.CheckGolden(t, b)
}
