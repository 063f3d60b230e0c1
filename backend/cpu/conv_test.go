package cpu_test

import (
	"errors"
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

// Col2Im gathers a few channels of one image at a time (as many planes as
// fit in L1); on planes that large, several blocks per image, a last one
// partial, still give the float64 scatter of every window, and beta scales
// what was there. The conformance suite's images are small enough to be
// one block.
func TestCol2ImChannelBlocks(t *testing.T) {
	for _, g := range []backend.ConvGeom{
		{N: 2, C: 5, H: 40, W: 37, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
		{N: 3, C: 3, H: 45, W: 33, KH: 2, KW: 3, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0},
	} {
		b := cpu.New()
		cols, x := b.Alloc(g.ColsLen()), b.Alloc(g.InLen())
		b.Random(backend.Uniform, g.ColsLen(), 3, 0, -1, 1, cols)
		b.Random(backend.Uniform, g.InLen(), 4, 0, -1, 1, x)
		c, x0 := make([]float32, g.ColsLen()), make([]float32, g.InLen())
		if err := errors.Join(b.Download(c, cols), b.Download(x0, x)); err != nil {
			t.Fatal(err)
		}
		const beta = 0.5
		b.Col2Im(g, cols, beta, x)
		got := make([]float32, g.InLen())
		if err := b.Download(got, x); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, g.InLen())
		for i, v := range x0 {
			want[i] = beta * float64(v)
		}
		oh, ow, k := g.OutH(), g.OutW(), g.C*g.KH*g.KW
		for r := range g.N * oh * ow {
			n, oy, ox := r/(oh*ow), r/ow%oh, r%ow
			for ch := range g.C {
				for kh := range g.KH {
					for kw := range g.KW {
						h, w := oy*g.StrideH-g.PadH+kh, ox*g.StrideW-g.PadW+kw
						if h >= 0 && h < g.H && w >= 0 && w < g.W {
							want[((n*g.C+ch)*g.H+h)*g.W+w] += float64(c[r*k+(ch*g.KH+kh)*g.KW+kw])
						}
					}
				}
			}
		}
		for i := range want {
			if math.Abs(float64(got[i])-want[i]) > 1e-5 {
				t.Fatalf("Col2Im(%v)[%d] = %v, want %v", g, i, got[i], want[i])
			}
		}
		b.Close()
	}
}
