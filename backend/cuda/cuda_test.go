//go:build cuda

package cuda_test

import (
	"testing"
	"time"

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
	for _, mode := range []string{"tile", "big", "pipe", "split"} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv("DIYNN_GPU_GEMM", mode)
			backendtest.RunGemm(t, func() (backend.Backend, error) { return cuda.Open() })
		})
	}
}

// TestTimeDevice times ten 1024³ products with CUDA events: the device's
// time must be positive and within the host's around the same call, which
// waits for the last event.
func TestTimeDevice(t *testing.T) {
	b, err := cuda.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const n = 1024
	a, x, c := b.Alloc(n*n), b.Alloc(n*n), b.Alloc(n*n)
	b.Fill(n*n, 0.5, a)
	b.Fill(n*n, 0.25, x)
	start := time.Now()
	d, err := b.TimeDevice(func() {
		for range 10 {
			b.Gemm(false, false, n, n, n, 1, a, x, 0, c)
		}
	})
	wall := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ten %d³ products: %v on the device, %v on the host (%.0f GFLOP/s by the device's clock)", n, d, wall, 10*2*n*n*n/d.Seconds()/1e9)
	if d <= 0 || d > wall {
		t.Fatalf("device time %v, want in (0, %v]", d, wall)
	}
	got := make([]float32, 1)
	if err := b.Download(got, c); err != nil {
		t.Fatal(err)
	}
	if got[0] != n*0.5*0.25 {
		t.Fatalf("C[0] = %v, want %v", got[0], n*0.5*0.25)
	}
}

// The GPU reports its total and free memory, and DefaultMemoryLimit uses
// them; an allocation lowers the free amount.
func TestDeviceMemory(t *testing.T) {
	b, err := cuda.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, err := b.DeviceMemory()
	if err != nil || m.Total <= 0 || m.Available <= 0 || m.Available > m.Total || m.Host {
		t.Fatalf("DeviceMemory() = %+v, %v", m, err)
	}
	limit := backend.DefaultMemoryLimit(b)
	t.Logf("%s: %+v, default limit %d", b.Device(), m, limit)
	if limit <= 0 || limit > m.Available {
		t.Errorf("DefaultMemoryLimit = %d for %+v", limit, m)
	}
	buf := b.Alloc(256 << 20) // 1 GiB
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	after, err := b.DeviceMemory()
	if err != nil || after.Available > m.Available-(1<<30) {
		t.Errorf("after allocating 1 GiB: %+v, %v (before %+v)", after, err, m)
	}
	b.Free(buf)
}
