package gpu

import (
	"errors"
	"strings"
	"testing"
)

// fakeDevice counts allocations and can fail launches; its "kernels" do
// nothing, which is enough to test what this package adds around them.
type fakeDevice struct {
	allocs, releases int
	failLaunch       string
}

func (d *fakeDevice) Name() string     { return "fake" }
func (d *fakeDevice) Describe() string { return "fake device" }
func (d *fakeDevice) Alloc(bytes int) (Mem, error) {
	d.allocs++
	return make([]float32, bytes/4), nil
}
func (d *fakeDevice) Release(Mem) { d.releases++ }
func (d *fakeDevice) Write(dst Mem, src []float32) error {
	copy(dst.([]float32), src)
	return nil
}
func (d *fakeDevice) Read(dst []float32, src Mem) error {
	copy(dst, src.([]float32))
	return nil
}
func (d *fakeDevice) Copy(dst, src Mem, bytes int) error {
	copy(dst.([]float32), src.([]float32)[:bytes/4])
	return nil
}
func (d *fakeDevice) Launch(name string, grid, block [2]int, args []any) error {
	if name == d.failLaunch {
		return errors.New("launch failed")
	}
	return nil
}
func (d *fakeDevice) Finish() error { return nil }
func (d *fakeDevice) Close() error  { return nil }

func TestCachingAllocatorReusesFreedMemory(t *testing.T) {
	dev := &fakeDevice{}
	b, err := New(dev)
	if err != nil {
		t.Fatal(err)
	}
	base := dev.allocs
	x := b.Alloc(100)
	b.Free(x)
	y := b.Alloc(100)
	if dev.allocs != base+1 {
		t.Errorf("device allocations: %d, want 1 (the second Alloc must reuse the freed block)", dev.allocs-base)
	}
	if st := b.MemStats(); st.Allocs != 2 || st.LiveBytes != 400 {
		t.Errorf("MemStats %+v", st)
	}
	b.Upload(y, []float32{1, 2, 3})
	got := make([]float32, 3)
	if err := b.Download(got, y); err != nil || got[2] != 3 {
		t.Errorf("round trip %v, %v", got, err)
	}
	b.Free(y)
	b.Close()
	if dev.releases == 0 {
		t.Error("Close released no cached memory")
	}
}

func TestLaunchErrorsAreSticky(t *testing.T) {
	dev := &fakeDevice{failLaunch: "axpy"}
	b, _ := New(dev)
	x, y := b.Alloc(4), b.Alloc(4)
	b.Axpy(4, 1, x, y)
	b.Scale(4, 2, x)
	err := b.Sync()
	if err == nil || !strings.Contains(err.Error(), "fake: axpy: launch failed") {
		t.Fatalf("Sync: %v", err)
	}
	if err := b.Download(make([]float32, 1), x); err == nil {
		t.Error("Download after a failure returned no error")
	}
}

type fakeProcessors struct {
	fakeDevice
	n int
}

func (d *fakeProcessors) Processors() int { return d.n }

func TestGemmPlan(t *testing.T) {
	tests := []struct {
		mode          string
		procs         int
		m, n, k       int
		kernel        string
		slices, chunk int
	}{
		{"", 132, 4096, 4096, 4096, "gemm_big", 1, 4096},
		{"", 132, 2048, 2048, 2048, "gemm", 1, 2048}, // 256 big tiles: under 2 per SM
		{"", 132, 2304, 2304, 64, "gemm_big", 1, 64},
		{"", 132, 1024, 1024, 1024, "gemm", 1, 1024},
		{"", 132, 128, 176, 784, "split", 10, 80}, // 6 tiles: 12 slices of 66 → 10 of 80
		{"", 132, 128, 10, 784, "split", 10, 80},  // min(66, 12, 16) slices of 66 → 10 of 80
		{"", 132, 784, 176, 128, "gemm", 1, 128},  // K too short to split
		{"", 132, 128, 42, 176, "gemm", 1, 176},
		{"", 2, 128, 176, 784, "gemm", 1, 784}, // PoCL: 6 tiles fill 2 compute units
		{"", 1, 33, 7, 257, "gemm", 1, 257},
		{"tile", 132, 4096, 4096, 4096, "gemm", 1, 4096},
		{"big", 2, 7, 7, 7, "gemm_big", 1, 7},
		{"pipe", 2, 7, 7, 7, "gemm_pipe", 1, 7},
		{"pipe", 132, 4096, 4096, 4096, "gemm_pipe", 1, 4096},
		{"split", 2, 7, 7, 33, "split", 3, 16},
		{"split", 2, 7, 7, 257, "split", 6, 48}, // 8 slices of 33 → 6 of 48, the last partial
		{"split", 2, 7, 7, 16, "gemm", 1, 16},
	}
	for _, tc := range tests {
		b := &Backend{gemmMode: tc.mode, processors: tc.procs}
		kernel, slices, chunk := b.gemmPlan(tc.m, tc.n, tc.k)
		if kernel != tc.kernel || slices != tc.slices || chunk != tc.chunk {
			t.Errorf("mode %q, %d processors, %d×%d×%d: %s, %d slices of %d; want %s, %d of %d",
				tc.mode, tc.procs, tc.m, tc.n, tc.k, kernel, slices, chunk, tc.kernel, tc.slices, tc.chunk)
		}
	}
}

func TestBadGemmMode(t *testing.T) {
	t.Setenv("DIYNN_GPU_GEMM", "fast")
	if _, err := New(&fakeProcessors{n: 4}); err == nil || !strings.Contains(err.Error(), "DIYNN_GPU_GEMM") {
		t.Fatalf("New with DIYNN_GPU_GEMM=fast: %v, want an error naming it", err)
	}
}

func TestTimeDeviceWithoutTimer(t *testing.T) {
	b, err := New(&fakeDevice{})
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	if _, err := b.TimeDevice(func() { ran = true }); err == nil || !strings.Contains(err.Error(), "no device timer") {
		t.Fatalf("TimeDevice on a device without a timer: %v, want an error saying so", err)
	}
	if ran || b.Err() != nil {
		t.Fatalf("ran fn: %v; sticky error: %v; want neither", ran, b.Err())
	}
}

func TestAllocBeyond32BitIndexing(t *testing.T) {
	b, err := New(&fakeDevice{})
	if err != nil {
		t.Fatal(err)
	}
	b.Alloc(1 << 31)
	if err := b.Err(); err == nil || !strings.Contains(err.Error(), "more than the kernels can index") {
		t.Fatalf("Alloc(1<<31): %v, want an error about 32-bit indexing", err)
	}
}
