package cpu_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
)

// On cpu the fused operations give bit for bit what the unfused kernels
// give, on the 784-176-42-10 network's shapes (split across the worker
// pool) and awkward ones (k = 0 too), with every SGEMM compiled in and every
// activation, and allocate nothing.
func TestFusedEqualsUnfusedBitForBit(t *testing.T) {
	acts := []backend.Activation{backend.Identity, backend.Tanh, backend.Sigmoid, backend.ReLU, backend.LeakyReLU}
	shapes := [][3]int{{128, 176, 784}, {128, 42, 176}, {128, 10, 42}, {257, 33, 7}, {1, 1030, 33}, {96, 176, 784}, {7, 33, 0}}
	rng := rand.New(rand.NewPCG(8, 8))
	random := func(b backend.Backend, n int) backend.Buffer {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.Float64()*4 - 2)
		}
		buf := b.Alloc(n)
		b.Upload(buf, v)
		return buf
	}
	read := func(b backend.Backend, buf backend.Buffer, n int) []float32 {
		v := make([]float32, n)
		if err := b.Download(v, buf); err != nil {
			t.Fatal(err)
		}
		return v
	}
	same := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: value %d is %v fused, %v unfused", what, i, got[i], want[i])
			}
		}
	}
	for _, name := range cpu.GEMMs() {
		b, err := cpu.NewWithGEMM(name)
		if err != nil {
			t.Fatal(err)
		}
		for si, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			x, w, bias := random(b, m*k), random(b, n*k), random(b, n)
			fused, plain := b.Alloc(m*n), b.Alloc(m*n)
			for _, f := range acts {
				b.GemmBiasAct(false, true, m, n, k, 1, x, w, 0, fused, bias, f, 0.1)
				b.Gemm(false, true, m, n, k, 1, x, w, 0, plain)
				b.AddRowVector(m, n, bias, plain)
				if f != backend.Identity {
					b.ActForward(f, 0.1, m*n, plain, plain)
				}
				what := name + " " + f.String()
				same(what+" GemmBiasAct", read(b, fused, m*n), read(b, plain, m*n))
				if si == 0 && f == backend.Tanh {
					if allocs := testing.AllocsPerRun(5, func() {
						b.GemmBiasAct(false, true, m, n, k, 1, x, w, 0, fused, bias, f, 0.1)
					}); allocs != 0 {
						t.Errorf("%s: GemmBiasAct allocates %.0f times a call", what, allocs)
					}
				}
				if f == backend.Identity {
					continue
				}
				// Backward, over the forward output just computed.
				dy, d0 := random(b, m*n), random(b, n)
				dx, db, refDx, refDb := b.Alloc(m*n), b.Alloc(n), b.Alloc(m*n), b.Alloc(n)
				b.Copy(n, d0, db)
				b.Copy(n, d0, refDb)
				b.ActBackwardSumRows(f, 0.1, m, n, fused, dy, dx, 1, db)
				// The unfused kernels need the pre-activation for the ReLUs.
				pre := b.Alloc(m * n)
				b.Gemm(false, true, m, n, k, 1, x, w, 0, pre)
				b.AddRowVector(m, n, bias, pre)
				b.ActBackward(f, 0.1, m*n, pre, fused, dy, refDx)
				b.SumRows(m, n, refDx, 1, refDb)
				same(what+" ActBackwardSumRows dx", read(b, dx, m*n), read(b, refDx, m*n))
				same(what+" ActBackwardSumRows dbias", read(b, db, n), read(b, refDb, n))
				if si == 0 && f == backend.ReLU {
					if allocs := testing.AllocsPerRun(5, func() {
						b.ActBackwardSumRows(f, 0.1, m, n, fused, dy, dx, 1, db)
					}); allocs != 0 {
						t.Errorf("%s: ActBackwardSumRows allocates %.0f times a call", what, allocs)
					}
				}
				for _, buf := range []backend.Buffer{dy, d0, dx, db, refDx, refDb, pre} {
					b.Free(buf)
				}
			}
		}
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
}

// BenchmarkFusedLinear times the forward (GEMM, bias, tanh) and the
// backward's activation and bias steps of the first layer of the
// 784-176-42-10 network at batch 128, fused and unfused.
func BenchmarkFusedLinear(bm *testing.B) {
	const m, n, k = 128, 176, 784
	b := cpu.New()
	defer b.Close()
	alloc := func(size int) backend.Buffer {
		buf := b.Alloc(size)
		b.Fill(size, 0.01, buf)
		return buf
	}
	x, w, bias, y, pre, dy, dx, db := alloc(m*k), alloc(n*k), alloc(n), alloc(m*n), alloc(m*n), alloc(m*n), alloc(m*n), alloc(n)
	bm.Run("forward/fused", func(bm *testing.B) {
		for bm.Loop() {
			b.GemmBiasAct(false, true, m, n, k, 1, x, w, 0, y, bias, backend.Tanh, 0)
		}
	})
	bm.Run("forward/unfused", func(bm *testing.B) {
		for bm.Loop() {
			b.Gemm(false, true, m, n, k, 1, x, w, 0, pre)
			b.AddRowVector(m, n, bias, pre)
			b.ActForward(backend.Tanh, 0, m*n, pre, y)
		}
	})
	bm.Run("backward/fused", func(bm *testing.B) {
		for bm.Loop() {
			b.ActBackwardSumRows(backend.Tanh, 0, m, n, y, dy, dx, 1, db)
		}
	})
	bm.Run("backward/unfused", func(bm *testing.B) {
		for bm.Loop() {
			b.ActBackward(backend.Tanh, 0, m*n, pre, y, dy, dx)
			b.SumRows(m, n, dx, 1, db)
		}
	})
}
