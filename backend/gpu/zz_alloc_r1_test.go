package gpu

import "testing"

func TestR1Allocs(t *testing.T) {
	b, _ := New(&fakeDevice{})
	x, y := b.Alloc(1000), b.Alloc(1000)
	step := func() { b.Axpy(1000, 1.5, x, y); b.Scale(1000, 0.5, x) }
	step()
	t.Logf("allocs per step: %v", testing.AllocsPerRun(10, step))
}
