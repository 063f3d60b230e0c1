//go:build cuda

package cuda_test

import (
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/backendtest"
	"github.com/diynn/diynn/backend/cuda"
	"github.com/diynn/diynn/nn/nntest"
)

// These tests need an NVIDIA GPU: build them here with
// `go test -tags cuda -c ./backend/cuda` (ci/gpu.sh does) and run the binary
// there.

func open(t *testing.T) backend.Backend {
	b, err := cuda.Open()
	if err != nil {
		t.Fatalf("opening CUDA: %v", err)
	}
	t.Logf("device: %s", b.Device())
	return b
}

func TestConformance(t *testing.T) {
	open(t).Close()
	backendtest.Run(t, func() (backend.Backend, error) { return cuda.Open() })
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
