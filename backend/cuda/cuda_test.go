//go:build cuda

package cuda_test

import (
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/backendtest"
	"github.com/diynn/diynn/backend/cuda"
	"github.com/diynn/diynn/nn/nntest"
)

// TestBackend runs the conformance suite, the gradient checks and the
// golden test on the GPU. It needs an NVIDIA GPU: build it here with
// `go test -tags cuda -c ./backend/cuda` (ci/gpu.sh does) and run the binary
// there.
func TestBackend(t *testing.T) {
	nntest.CheckBackend(t, func() (backend.Backend, error) { return cuda.Open() })
}

// TestGemmKernels runs the GEMM cases on each GEMM kernel (see package
// gpu's gemmPlan), whichever the shape-based choice would take.
func TestGemmKernels(t *testing.T) {
	for _, mode := range []string{"tile", "big", "split"} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv("DIYNN_GPU_GEMM", mode)
			backendtest.RunGemm(t, func() (backend.Backend, error) { return cuda.Open() })
		})
	}
}
