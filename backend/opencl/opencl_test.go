//go:build opencl

package opencl_test

import (
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/backendtest"
	"github.com/diynn/diynn/backend/opencl"
	"github.com/diynn/diynn/nn/nntest"
)

// TestBackend runs the conformance suite, the gradient checks and the
// golden test on the OpenCL device (PoCL in CI, which installs
// pocl-opencl-icd).
func TestBackend(t *testing.T) {
	nntest.CheckBackend(t, func() (backend.Backend, error) { return opencl.Open(false) })
}

// TestGemmKernels runs the GEMM cases on each of package gpu's GEMM
// kernels, which the shape-based choice would not all reach with PoCL's
// few compute units: the 64×64 tiles, the 128×128 tiles (single and double
// buffered) and split K.
func TestGemmKernels(t *testing.T) {
	for _, mode := range []string{"tile", "big", "pipe", "split"} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv("DIYNN_GPU_GEMM", mode)
			backendtest.RunGemm(t, func() (backend.Backend, error) { return opencl.Open(false) })
		})
	}
}

// The device reports its global memory, and DefaultMemoryLimit uses it.
func TestDeviceMemory(t *testing.T) {
	b, err := opencl.Open(false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, err := b.DeviceMemory()
	if err != nil || m.Total <= 0 {
		t.Fatalf("DeviceMemory() = %+v, %v", m, err)
	}
	limit := backend.DefaultMemoryLimit(b)
	t.Logf("%s: %+v, default limit %d", b.Device(), m, limit)
	if limit <= 0 || limit > m.Total {
		t.Errorf("DefaultMemoryLimit = %d for %+v", limit, m)
	}
}
