package cpu_test

import (
	"math"
	"runtime"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
)

// fmnistConv is the first layer of a small CNN on a batch of 64 28×28
// images: large enough that every kernel below runs on the worker pool.
var fmnistConv = backend.ConvGeom{N: 64, C: 8, H: 28, W: 28, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}

// convStep runs every convolution, pooling and batch-norm kernel once, as
// a CNN's training step would.
func convStep(b *cpu.Backend, x, cols, y, a, dx, st backend.Buffer) func() {
	g := fmnistConv
	p := backend.ConvGeom{N: g.N, C: g.C, H: g.H, W: g.W, KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	hw := g.H * g.W
	return func() {
		b.Im2Col(g, x, cols)
		b.Col2Im(g, cols, 0, dx)
		b.Col2Im(g, cols, 1, dx)
		b.TransposeBatch(g.N, hw, g.C, x, y)
		b.AddChannels(g.N, g.C, hw, st, y)
		b.SumChannels(g.N, g.C, hw, y, 1, st)
		b.MaxPoolForward(p, x, y, a)
		b.MaxPoolBackward(p, y, a, dx)
		b.AvgPoolForward(p, x, y)
		b.AvgPoolBackward(p, y, dx)
		b.Fill(4*g.C, 1, st)
		b.BatchNormStats(g.N, g.C, hw, x, st, st)
		b.BatchNormForward(g.N, g.C, hw, 1e-5, x, st, st, st, st, y)
		b.BatchNormBackward(g.N, g.C, hw, 1e-5, true, x, y, st, st, st, dx, st, st)
	}
}

// The convolution kernels allocate nothing once the backend has warmed up.
func TestConvKernelsAllocateNothing(t *testing.T) {
	b := cpu.New()
	defer b.Close()
	g := fmnistConv
	x, cols := b.Alloc(g.InLen()), b.Alloc(g.ColsLen())
	y, a, dx, st := b.Alloc(g.InLen()), b.Alloc(g.InLen()), b.Alloc(g.InLen()), b.Alloc(4*g.C)
	b.Random(backend.Normal, g.InLen(), 1, 0, 0, 1, x)
	step := convStep(b, x, cols, y, a, dx, st)
	step()
	if n := testing.AllocsPerRun(5, step); n != 0 {
		t.Errorf("%v allocations per step", n)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
}

// The per-channel reductions and the adjoints give the same bits on 1 core
// and on 4: each sum runs on one goroutine in an order fixed by the shape.
func TestConvKernelsIndependentOfCores(t *testing.T) {
	g := fmnistConv
	run := func(procs int) [][]float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		b := cpu.New()
		defer b.Close()
		x, cols := b.Alloc(g.InLen()), b.Alloc(g.ColsLen())
		y, a, dx, st := b.Alloc(g.InLen()), b.Alloc(g.InLen()), b.Alloc(g.InLen()), b.Alloc(4*g.C)
		b.Random(backend.Normal, g.InLen(), 2, 0, 0, 1, x)
		convStep(b, x, cols, y, a, dx, st)()
		var out [][]float32
		for _, buf := range []backend.Buffer{y, dx, st} {
			v := make([]float32, buf.Len())
			if err := b.Download(v, buf); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	one, four := run(1), run(4)
	for k := range one {
		for i := range one[k] {
			if math.Float32bits(one[k][i]) != math.Float32bits(four[k][i]) {
				t.Fatalf("output %d, value %d: %v on 1 core, %v on 4", k, i, one[k][i], four[k][i])
			}
		}
	}
}

func BenchmarkIm2Col(b *testing.B) {
	c := cpu.New()
	defer c.Close()
	g := fmnistConv
	x, cols := c.Alloc(g.InLen()), c.Alloc(g.ColsLen())
	b.SetBytes(int64(4 * (g.InLen() + g.ColsLen())))
	for b.Loop() {
		c.Im2Col(g, x, cols)
	}
}

func BenchmarkCol2Im(b *testing.B) {
	c := cpu.New()
	defer c.Close()
	g := fmnistConv
	x, cols := c.Alloc(g.InLen()), c.Alloc(g.ColsLen())
	b.SetBytes(int64(4 * (g.InLen() + g.ColsLen())))
	for b.Loop() {
		c.Col2Im(g, cols, 0, x)
	}
}

func BenchmarkTransposeBatch(b *testing.B) {
	c := cpu.New()
	defer c.Close()
	g := fmnistConv
	x, y := c.Alloc(g.InLen()), c.Alloc(g.InLen())
	b.SetBytes(int64(8 * g.InLen()))
	for b.Loop() {
		c.TransposeBatch(g.N, g.H*g.W, g.C, x, y)
	}
}
