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
