package backendtest

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
)

// epilogueActs are the activations of a fused epilogue, Identity first.
var epilogueActs = []backend.Activation{backend.Identity, backend.Tanh, backend.Sigmoid, backend.ReLU, backend.LeakyReLU}

// epilogueRef is f(v) in float64 for a fused epilogue (Identity too).
func epilogueRef(f backend.Activation, alpha, v float64) float64 {
	if f == backend.Identity {
		return v
	}
	y, _ := activationRef(f, alpha, v)
	return y
}

// fusedGemm checks backend.FusedLinear.GemmBiasAct against a float64
// reference, on every combination of the awkward sizes for m, n and k and
// every transpose, the activation, the bias (absent in some cases) and
// beta (0 with C poisoned, or 0.5) varying from case to case so that every
// activation meets every transpose and many sizes; and against the unfused
// Gemm, AddRowVector and ActForward on the same operands.
func (s *suite) fusedGemm(t *testing.T) {
	fl, ok := s.b.(backend.FusedLinear)
	if !ok {
		t.Skipf("%s does not implement backend.FusedLinear (nn runs such layers unfused)", s.b.Name())
	}
	c := 0
	for _, m := range Sizes {
		for _, n := range Sizes {
			for _, k := range Sizes {
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					f := epilogueActs[c%len(epilogueActs)]
					withBias := c%7 != 3
					alpha, beta := float32(1), float32(0)
					if c%3 == 1 {
						alpha, beta = -0.75, 0.5
					}
					s.fusedGemmCase(t, fl, tr[0], tr[1], m, n, k, alpha, beta, withBias, f, 0.1)
					c++
				}
			}
		}
	}
	// Every activation on one shape with partial tiles in every direction,
	// LeakyReLU with slopes 0 and negative too.
	for _, f := range epilogueActs {
		s.fusedGemmCase(t, fl, false, true, 33, 7, 257, 1, 0, true, f, 0.1)
	}
	s.fusedGemmCase(t, fl, false, true, 7, 33, 257, 1, 0, true, backend.LeakyReLU, 0)
	s.fusedGemmCase(t, fl, true, false, 7, 33, 7, 1, 0.5, true, backend.LeakyReLU, -0.3)
	// k = 0: the epilogue of beta·C (or of zeros, C unread).
	s.fusedGemmCase(t, fl, false, true, 7, 33, 0, 1, 0, true, backend.Sigmoid, 0)
	s.fusedGemmCase(t, fl, true, false, 33, 7, 0, 1, 0.5, true, backend.Tanh, 0)
}

func (s *suite) fusedGemmCase(t *testing.T, fl backend.FusedLinear, ta, tb bool, m, n, k int, alpha, beta float32, withBias bool, f backend.Activation, fAlpha float32) {
	t.Helper()
	name := fmt.Sprintf("GemmBiasAct(transA=%v, transB=%v, m=%d, n=%d, k=%d, alpha=%v, beta=%v, bias=%v, %v(%v))", ta, tb, m, n, k, alpha, beta, withBias, f, fAlpha)
	a, b := s.random(m*k, -1, 1), s.random(k*n, -1, 1)
	// Values around 0 and saturating ones: scale the product so that the
	// pre-activations span about ±4.
	c0 := s.random(m*n, -1, 1)
	bias := s.random(n, -2, 2)
	var cbuf, cref backend.Buffer
	if beta == 0 {
		cbuf, cref = s.poisoned(m*n), s.poisoned(m*n) // beta = 0 must not read C
	} else {
		cbuf, cref = s.upload(c0), s.upload(c0)
	}
	ab, bb := s.upload(a), s.upload(b)
	var biasBuf backend.Buffer
	if withBias {
		biasBuf = s.upload(bias)
	}
	fl.GemmBiasAct(ta, tb, m, n, k, alpha, ab, bb, beta, cbuf, biasBuf, f, fAlpha)
	got := s.download(t, cbuf, m*n)
	// The unfused path on the same operands.
	s.b.Gemm(ta, tb, m, n, k, alpha, ab, bb, beta, cref)
	if withBias {
		s.b.AddRowVector(m, n, biasBuf, cref)
	}
	if f != backend.Identity {
		s.b.ActForward(f, fAlpha, m*n, cref, cref)
	}
	unfused := s.download(t, cref, m*n)
	ref, refScale := gemmRef(ta, tb, m, n, k, alpha, a, b, beta, c0)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			v, scale := ref[i*n+j], refScale[i*n+j]
			if withBias {
				v += float64(bias[j])
				scale += math.Abs(float64(bias[j]))
			}
			want := epilogueRef(f, float64(fAlpha), v)
			// The GEMM's tolerance (|f'| ≤ 1 carries it through) plus the
			// activation's own (as in the Activations test).
			tol := 1e-5*scale + 1e-6
			g := got[i*n+j]
			if !near(g, want, tol, 1e-5) {
				t.Fatalf("%s: C[%d,%d] = %v, want %v", name, i, j, g, want)
			}
			if !near(g, float64(unfused[i*n+j]), tol, 1e-5) {
				t.Fatalf("%s: C[%d,%d] = %v, the unfused Gemm, AddRowVector, ActForward give %v", name, i, j, g, unfused[i*n+j])
			}
		}
	}
	for _, buf := range []backend.Buffer{ab, bb, cbuf, cref, biasBuf} {
		if buf != nil {
			s.b.Free(buf)
		}
	}
}

// fusedBackward checks backend.FusedLinear.ActBackwardSumRows against the
// float64 derivative f'(x) (taken by the kernel from y = ActForward(x)),
// with beta 0 (dbias poisoned) and 1, dx poisoned, in place (dx = dy) and
// without dbias, and against the unfused ActBackward and SumRows.
func (s *suite) fusedBackward(t *testing.T) {
	fl, ok := s.b.(backend.FusedLinear)
	if !ok {
		t.Skipf("%s does not implement backend.FusedLinear (nn runs such layers unfused)", s.b.Name())
	}
	const fAlpha = 0.1
	c := 0
	for _, rows := range Sizes {
		for _, cols := range Sizes {
			for _, f := range epilogueActs {
				c++
				n := rows * cols
				x := s.random(n, -4, 4)
				if n > 3 {
					x[0], x[1], x[2] = 30, -30, 0 // saturation, and the ReLUs' kink
				}
				dy, d0 := s.random(n, -1, 1), s.random(cols, -1, 1)
				xb, yb, dyb := s.upload(x), s.poisoned(n), s.upload(dy)
				if f == backend.Identity {
					s.b.Copy(n, xb, yb)
				} else {
					s.b.ActForward(f, fAlpha, n, xb, yb)
				}
				beta := float32(c % 2)
				dxb, db := s.poisoned(n), s.poisoned(cols)
				if beta != 0 {
					s.b.Upload(db, d0)
				}
				fl.ActBackwardSumRows(f, fAlpha, rows, cols, yb, dyb, dxb, beta, db)
				wantDx, wantSum := make([]float64, n), make([]float64, cols)
				for i := range x {
					d := 1.0
					if f != backend.Identity {
						_, d = activationRef(f, fAlpha, float64(x[i]))
					}
					wantDx[i] = d * float64(dy[i])
					wantSum[i%cols] += wantDx[i]
				}
				for j := range wantSum {
					wantSum[j] += float64(beta) * float64(d0[j])
				}
				name := fmt.Sprintf("ActBackwardSumRows(%v, %d×%d, beta=%v)", f, rows, cols, beta)
				gotDx, gotSum := s.download(t, dxb, n), s.download(t, db, cols)
				check(t, name+" dx", gotDx, wantDx, 1e-6, 1e-5)
				sumTol := 1e-5 * math.Sqrt(float64(rows))
				check(t, name+" dbias", gotSum, wantSum, sumTol, 1e-5)

				// The unfused kernels on the same operands.
				if f != backend.Identity {
					ref, refSum := s.poisoned(n), s.poisoned(cols)
					s.b.Upload(refSum, d0)
					s.b.ActBackward(f, fAlpha, n, xb, yb, dyb, ref)
					s.b.SumRows(rows, cols, ref, beta, refSum)
					check(t, name+" dx against ActBackward", gotDx, widen(s.download(t, ref, n)), 1e-6, 1e-5)
					check(t, name+" dbias against SumRows", gotSum, widen(s.download(t, refSum, cols)), sumTol, 1e-5)
					s.b.Free(ref)
					s.b.Free(refSum)
				}

				// In place, without dbias: dy becomes dx.
				fl.ActBackwardSumRows(f, fAlpha, rows, cols, yb, dyb, dyb, 0, nil)
				check(t, name+" in place, no dbias", s.download(t, dyb, n), wantDx, 1e-6, 1e-5)
				for _, buf := range []backend.Buffer{xb, yb, dyb, dxb, db} {
					s.b.Free(buf)
				}
			}
		}
	}
}

// fusedErrors checks that the fused operations record bad arguments as
// sticky errors that name the operation.
func fusedErrors(t *testing.T, open Opener) {
	cases := []struct {
		name, want string
		fail       func(fl backend.FusedLinear, b backend.Backend)
	}{
		{"unknown activation", "GemmBiasAct: unknown activation Activation(9)", func(fl backend.FusedLinear, b backend.Backend) {
			fl.GemmBiasAct(false, false, 2, 2, 2, 1, b.Alloc(4), b.Alloc(4), 0, b.Alloc(4), nil, backend.Activation(9), 0)
		}},
		{"short bias", "GemmBiasAct: bias holds 1 values, need 3", func(fl backend.FusedLinear, b backend.Backend) {
			fl.GemmBiasAct(false, false, 2, 3, 2, 1, b.Alloc(4), b.Alloc(6), 0, b.Alloc(6), b.Alloc(1), backend.ReLU, 0)
		}},
		{"backward: unknown activation", "ActBackwardSumRows: unknown activation Activation(-2)", func(fl backend.FusedLinear, b backend.Backend) {
			fl.ActBackwardSumRows(backend.Activation(-2), 0, 2, 2, b.Alloc(4), b.Alloc(4), b.Alloc(4), 0, b.Alloc(2))
		}},
		{"backward: short dbias", "ActBackwardSumRows: dbias holds 2 values, need 3", func(fl backend.FusedLinear, b backend.Backend) {
			fl.ActBackwardSumRows(backend.Tanh, 0, 2, 3, b.Alloc(6), b.Alloc(6), b.Alloc(6), 0, b.Alloc(2))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := open()
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer b.Close()
			fl, ok := b.(backend.FusedLinear)
			if !ok {
				t.Skipf("%s does not implement backend.FusedLinear", b.Name())
			}
			tc.fail(fl, b)
			if err := b.Sync(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
