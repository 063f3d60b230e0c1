// Package backendtest is the conformance suite every diynn backend must
// pass. A backend's own test calls Run with a function that opens it:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func() (backend.Backend, error) { return cpu.New(), nil })
//	}
//
// Each kernel runs on fresh random data of awkward sizes (1, 7, 33, 257: not
// multiples of any tile) and is compared with a float64 reference written
// here, independently of every backend. Outputs are filled with NaN before
// each kernel, so a kernel that skips an element fails. Random is compared
// bit for bit with the suite's own Philox 4×32-10 (itself checked against
// Random123's known-answer vectors), and its statistics with stated bounds.
// The sticky-error contract is checked on backends of their own.
package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/diynn/diynn/backend"
)

// Sizes are the awkward lengths every kernel is tried on.
var Sizes = []int{1, 7, 33, 257}

// Opener opens a fresh backend of the kind under test.
type Opener func() (backend.Backend, error)

// RunGemm runs only the suite's GEMM cases, for backends that have several
// GEMM kernels and test each.
func RunGemm(t *testing.T, open Opener) {
	b, err := open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer b.Close()
	s := &suite{b: b, rng: rand.New(rand.NewPCG(3, 4))}
	s.gemm(t)
	s.fusedGemm(t)
	if err := b.Sync(); err != nil {
		t.Fatalf("sticky error: %v", err)
	}
}

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	b, err := open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer b.Close()
	s := &suite{b: b, rng: rand.New(rand.NewPCG(1, 2))}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"Memory", s.memory},
		{"Gemm", s.gemm},
		{"FusedGemm", s.fusedGemm},
		{"FusedBackward", s.fusedBackward},
		{"AxpyScale", s.axpyScale},
		{"Activations", s.activations},
		{"RowVector", s.rowVector},
		{"Softmax", s.softmax},
		{"PointwiseLoss", s.pointwiseLoss},
		{"CrossEntropy", s.crossEntropy},
		{"SGD", s.sgd},
		{"Adam", s.adam},
		{"GatherArgmax", s.gatherArgmax},
		{"Products", s.products},
		{"Norms", s.norms},
		{"Random", s.randomNumbers},
		{"Convolution", s.convolution},
		{"Channels", s.channels},
		{"Pooling", s.pooling},
		{"BatchNorm", s.batchNorm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t)
			if err := b.Sync(); err != nil {
				t.Fatalf("sticky error after %s: %v", tc.name, err)
			}
		})
	}
	t.Run("StickyErrors", func(t *testing.T) { stickyErrors(t, open) })
	t.Run("FusedErrors", func(t *testing.T) { fusedErrors(t, open) })
}

type suite struct {
	b   backend.Backend
	rng *rand.Rand
}

// random returns n values uniform in [lo, hi).
func (s *suite) random(n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*s.rng.Float64())
	}
	return v
}

// upload allocates a buffer holding v.
func (s *suite) upload(v []float32) backend.Buffer {
	buf := s.b.Alloc(len(v))
	s.b.Upload(buf, v)
	return buf
}

// poisoned allocates a buffer of n NaNs.
func (s *suite) poisoned(n int) backend.Buffer {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return s.upload(v)
}

func (s *suite) download(t *testing.T, buf backend.Buffer, n int) []float32 {
	t.Helper()
	v := make([]float32, n)
	if err := s.b.Download(v, buf); err != nil {
		t.Fatalf("download: %v", err)
	}
	return v
}

func widen(v []float32) []float64 {
	w := make([]float64, len(v))
	for i, x := range v {
		w[i] = float64(x)
	}
	return w
}

// near reports whether got matches want within abs + rel·|want|.
func near(got float32, want, abs, rel float64) bool {
	g := float64(got)
	if math.IsNaN(want) {
		return math.IsNaN(g)
	}
	return !math.IsNaN(g) && math.Abs(g-want) <= abs+rel*math.Abs(want)
}

// check compares got with want elementwise, reporting the first few misses.
func check(t *testing.T, what string, got []float32, want []float64, abs, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range want {
		if !near(got[i], want[i], abs, rel) {
			if bad < 3 {
				t.Errorf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d of %d values wrong", what, bad, len(want))
	}
}

func (s *suite) memory(t *testing.T) {
	before := s.b.MemStats()
	for _, n := range Sizes {
		v := s.random(n, -1, 1)
		a := s.upload(v)
		check(t, "upload/download", s.download(t, a, n), widen(v), 0, 0)
		c := s.poisoned(n + 1)
		s.b.Copy(n, a, c)
		got := s.download(t, c, n+1)
		check(t, "copy", got[:n], widen(v), 0, 0)
		if !math.IsNaN(float64(got[n])) {
			t.Errorf("Copy(%d) wrote past n: %v", n, got[n])
		}
		s.b.Fill(n, 2.5, c)
		got = s.download(t, c, n+1)
		want := make([]float64, n)
		for i := range want {
			want[i] = 2.5
		}
		check(t, "fill", got[:n], want, 0, 0)
		if !math.IsNaN(float64(got[n])) {
			t.Errorf("Fill(%d) wrote past n: %v", n, got[n])
		}
		s.b.Free(a)
		s.b.Free(c)
	}
	after := s.b.MemStats()
	if d := after.Allocs - before.Allocs; d != int64(2*len(Sizes)) {
		t.Errorf("MemStats counted %d allocations, want %d", d, 2*len(Sizes))
	}
	if after.LiveBytes != before.LiveBytes {
		t.Errorf("MemStats live bytes %d after freeing everything, want %d", after.LiveBytes, before.LiveBytes)
	}
}

func (s *suite) gemm(t *testing.T) {
	for _, m := range Sizes {
		for _, n := range Sizes {
			for _, k := range Sizes {
				for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					for _, ab := range [][2]float32{{1, 0}, {-0.5, 1.25}} {
						s.gemmCase(t, tr[0], tr[1], m, n, k, ab[0], ab[1])
					}
				}
			}
		}
	}
	// k = 0: C = beta·C, and with beta = 0 zeros, C unread.
	for _, tr := range [][2]bool{{false, false}, {true, true}} {
		s.gemmCase(t, tr[0], tr[1], 7, 33, 0, 1, 0)
		s.gemmCase(t, tr[0], tr[1], 7, 33, 0, 1, 0.5)
	}
}

func (s *suite) gemmCase(t *testing.T, ta, tb bool, m, n, k int, alpha, beta float32) {
	a, b := s.random(m*k, -1, 1), s.random(k*n, -1, 1)
	var c0 []float32
	var cbuf backend.Buffer
	if beta == 0 {
		cbuf = s.poisoned(m * n) // beta = 0 must not read C
	} else {
		c0 = s.random(m*n, -1, 1)
		cbuf = s.upload(c0)
	}
	ab, bb := s.upload(a), s.upload(b)
	s.b.Gemm(ta, tb, m, n, k, alpha, ab, bb, beta, cbuf)
	got := s.download(t, cbuf, m*n)
	want, scale := gemmRef(ta, tb, m, n, k, alpha, a, b, beta, c0)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			if !near(got[i*n+j], want[i*n+j], 1e-5*scale[i*n+j]+1e-6, 0) {
				t.Fatalf("Gemm(transA=%v, transB=%v, m=%d, n=%d, k=%d, alpha=%v, beta=%v): C[%d,%d] = %v, want %v",
					ta, tb, m, n, k, alpha, beta, i, j, got[i*n+j], want[i*n+j])
			}
		}
	}
	s.b.Free(ab)
	s.b.Free(bb)
	s.b.Free(cbuf)
}

// gemmRef is C = alpha·op(A)·op(B) + beta·C0 in float64 (C0 is not read
// when beta is 0), and for each value the sum of its terms' magnitudes,
// the scale of its rounding error.
func gemmRef(ta, tb bool, m, n, k int, alpha float32, a, b []float32, beta float32, c0 []float32) (c, scale []float64) {
	at := func(i, l int) float64 { // op(A)[i,l]
		if ta {
			return float64(a[l*m+i])
		}
		return float64(a[i*k+l])
	}
	bt := func(l, j int) float64 { // op(B)[l,j]
		if tb {
			return float64(b[j*k+l])
		}
		return float64(b[l*n+j])
	}
	c, scale = make([]float64, m*n), make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var sum, sc float64
			for l := 0; l < k; l++ {
				p := at(i, l) * bt(l, j)
				sum += p
				sc += math.Abs(p)
			}
			v := float64(alpha) * sum
			sc *= math.Abs(float64(alpha))
			if beta != 0 {
				v += float64(beta) * float64(c0[i*n+j])
				sc += math.Abs(float64(beta) * float64(c0[i*n+j]))
			}
			c[i*n+j], scale[i*n+j] = v, sc
		}
	}
	return c, scale
}

func (s *suite) axpyScale(t *testing.T) {
	for _, n := range Sizes {
		x, y := s.random(n, -1, 1), s.random(n, -1, 1)
		xb, yb := s.upload(x), s.upload(y)
		s.b.Axpy(n, 0.75, xb, yb)
		want := make([]float64, n)
		for i := range want {
			want[i] = float64(y[i]) + 0.75*float64(x[i])
		}
		check(t, fmt.Sprintf("Axpy(n=%d)", n), s.download(t, yb, n), want, 1e-6, 1e-6)
		s.b.Scale(n, -3, xb)
		for i := range want {
			want[i] = -3 * float64(x[i])
		}
		check(t, fmt.Sprintf("Scale(n=%d)", n), s.download(t, xb, n), want, 1e-6, 1e-6)
	}
}

// activationRef returns f(x) and f'(x) in float64.
func activationRef(f backend.Activation, alpha, x float64) (y, dydx float64) {
	switch f {
	case backend.Tanh:
		y = math.Tanh(x)
		return y, 1 - y*y
	case backend.Sigmoid:
		y = 1 / (1 + math.Exp(-x))
		return y, y * (1 - y)
	case backend.ReLU:
		if x > 0 {
			return x, 1
		}
		return 0, 0
	case backend.LeakyReLU:
		if x > 0 {
			return x, 1
		}
		return alpha * x, alpha
	}
	panic("unknown activation")
}

func (s *suite) activations(t *testing.T) {
	const alpha = 0.1
	for _, f := range []backend.Activation{backend.Tanh, backend.Sigmoid, backend.ReLU, backend.LeakyReLU} {
		for _, n := range Sizes {
			x := s.random(n, -4, 4)
			if n > 2 {
				x[0], x[1] = 30, -30 // saturation must not overflow
			}
			dy := s.random(n, -1, 1)
			xb, yb, dyb, dxb := s.upload(x), s.poisoned(n), s.upload(dy), s.poisoned(n)
			s.b.ActForward(f, alpha, n, xb, yb)
			s.b.ActBackward(f, alpha, n, xb, yb, dyb, dxb)
			wantY, wantDx := make([]float64, n), make([]float64, n)
			for i := range x {
				y, d := activationRef(f, alpha, float64(x[i]))
				wantY[i], wantDx[i] = y, d*float64(dy[i])
			}
			name := fmt.Sprintf("%v(n=%d)", f, n)
			check(t, name+" forward", s.download(t, yb, n), wantY, 1e-6, 1e-5)
			check(t, name+" backward", s.download(t, dxb, n), wantDx, 1e-6, 1e-5)
			// In place: y = f(x) into x itself.
			s.b.ActForward(f, alpha, n, xb, xb)
			check(t, name+" in place", s.download(t, xb, n), wantY, 1e-6, 1e-5)
			for _, buf := range []backend.Buffer{xb, yb, dyb, dxb} {
				s.b.Free(buf)
			}
		}
	}
}

func (s *suite) rowVector(t *testing.T) {
	for _, rows := range Sizes {
		for _, cols := range Sizes {
			x, v := s.random(rows*cols, -1, 1), s.random(cols, -1, 1)
			xb, vb := s.upload(x), s.upload(v)
			s.b.AddRowVector(rows, cols, vb, xb)
			want := make([]float64, rows*cols)
			for i := range want {
				want[i] = float64(x[i]) + float64(v[i%cols])
			}
			name := fmt.Sprintf("(%d×%d)", rows, cols)
			check(t, "AddRowVector"+name, s.download(t, xb, rows*cols), want, 1e-6, 1e-6)
			for _, beta := range []float32{0, 1} {
				d0 := s.random(cols, -1, 1)
				var db backend.Buffer
				if beta == 0 {
					db = s.poisoned(cols)
				} else {
					db = s.upload(d0)
				}
				xb2 := s.upload(x)
				s.b.SumRows(rows, cols, xb2, beta, db)
				sum := make([]float64, cols)
				for i, xv := range x {
					sum[i%cols] += float64(xv)
				}
				for j := range sum {
					sum[j] += float64(beta) * float64(d0[j])
				}
				check(t, fmt.Sprintf("SumRows%s beta=%v", name, beta), s.download(t, db, cols), sum, 1e-5*math.Sqrt(float64(rows)), 1e-5)
				s.b.Free(db)
				s.b.Free(xb2)
			}
			s.b.Free(xb)
			s.b.Free(vb)
		}
	}
}

func (s *suite) softmax(t *testing.T) {
	for _, log := range []bool{false, true} {
		for _, rows := range Sizes {
			for _, cols := range Sizes {
				n := rows * cols
				x, dy := s.random(n, -5, 5), s.random(n, -1, 1)
				x[0] += 500 // large logits must not overflow
				xb, yb, dyb, dxb := s.upload(x), s.poisoned(n), s.upload(dy), s.poisoned(n)
				s.b.Softmax(log, rows, cols, xb, yb)
				wantY := make([]float64, n)
				for r := 0; r < rows; r++ {
					xr := widen(x[r*cols : (r+1)*cols])
					lse := logSumExp(xr)
					for j, v := range xr {
						if log {
							wantY[r*cols+j] = v - lse
						} else {
							wantY[r*cols+j] = math.Exp(v - lse)
						}
					}
				}
				name := fmt.Sprintf("Softmax(log=%v, %d×%d)", log, rows, cols)
				y := s.download(t, yb, n)
				check(t, name, y, wantY, 1e-6, 1e-5)
				// Backward from the backend's own y, against float64 math.
				s.b.SoftmaxBackward(log, rows, cols, yb, dyb, dxb)
				wantDx := make([]float64, n)
				for r := 0; r < rows; r++ {
					o := r * cols
					var sum float64
					for j := 0; j < cols; j++ {
						if log {
							sum += float64(dy[o+j])
						} else {
							sum += float64(dy[o+j]) * float64(y[o+j])
						}
					}
					for j := 0; j < cols; j++ {
						if log {
							wantDx[o+j] = float64(dy[o+j]) - math.Exp(float64(y[o+j]))*sum
						} else {
							wantDx[o+j] = float64(y[o+j]) * (float64(dy[o+j]) - sum)
						}
					}
				}
				check(t, name+" backward", s.download(t, dxb, n), wantDx, 1e-5, 1e-4)
				for _, buf := range []backend.Buffer{xb, yb, dyb, dxb} {
					s.b.Free(buf)
				}
			}
		}
	}
}

func logSumExp(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// pointwiseRef returns the loss of one element and its derivative.
func pointwiseRef(l backend.PointwiseLoss, p, t float64) (loss, grad float64) {
	switch l {
	case backend.MSE:
		return (p - t) * (p - t), 2 * (p - t)
	case backend.BCE:
		loss = -(t*math.Max(math.Log(p), -100) + (1-t)*math.Max(math.Log(1-p), -100))
		return loss, (p - t) / math.Max(p*(1-p), 1e-12)
	case backend.BCEWithLogits:
		sig := 1 / (1 + math.Exp(-p))
		return math.Max(p, 0) - p*t + math.Log1p(math.Exp(-math.Abs(p))), sig - t
	}
	panic("unknown loss")
}

func (s *suite) pointwiseLoss(t *testing.T) {
	for _, l := range []backend.PointwiseLoss{backend.MSE, backend.BCE, backend.BCEWithLogits} {
		for _, n := range Sizes {
			var p []float32
			switch l {
			case backend.BCE:
				p = s.random(n, 0.01, 0.99)
				if n > 2 {
					p[0], p[1] = 0, 1 // clamped, not infinite
				}
			case backend.BCEWithLogits:
				p = s.random(n, -6, 6)
				if n > 2 {
					p[0], p[1] = 80, -80 // no overflow
				}
			default:
				p = s.random(n, -2, 2)
			}
			tg := s.random(n, 0, 1)
			pb, tb, gb, lb := s.upload(p), s.upload(tg), s.poisoned(n), s.poisoned(1)
			s.b.Loss(l, n, pb, tb, gb, lb)
			var total float64
			wantG := make([]float64, n)
			for i := range p {
				lv, g := pointwiseRef(l, float64(p[i]), float64(tg[i]))
				total += lv
				wantG[i] = g / float64(n)
			}
			name := fmt.Sprintf("Loss(%v, n=%d)", l, n)
			check(t, name+" value", s.download(t, lb, 1), []float64{total / float64(n)}, 1e-6, 1e-5)
			check(t, name+" grad", s.download(t, gb, n), wantG, 1e-6, 1e-5)
			for _, buf := range []backend.Buffer{pb, tb, gb, lb} {
				s.b.Free(buf)
			}
		}
	}
}

func (s *suite) crossEntropy(t *testing.T) {
	for _, rows := range Sizes {
		for _, cols := range Sizes {
			n := rows * cols
			x := s.random(n, -5, 5)
			x[0] += 1000 // log-sum-exp must keep this finite
			labels := make([]float32, rows)
			for i := range labels {
				labels[i] = float32(s.rng.IntN(cols))
			}
			xb, lb, gb, lossb := s.upload(x), s.upload(labels), s.poisoned(n), s.poisoned(1)
			s.b.CrossEntropy(rows, cols, xb, lb, gb, lossb)
			var total float64
			wantG := make([]float64, n)
			for r := 0; r < rows; r++ {
				xr := widen(x[r*cols : (r+1)*cols])
				lse := logSumExp(xr)
				c := int(labels[r])
				total += lse - xr[c]
				for j, v := range xr {
					wantG[r*cols+j] = math.Exp(v-lse) / float64(rows)
				}
				wantG[r*cols+c] -= 1 / float64(rows)
			}
			name := fmt.Sprintf("CrossEntropy(%d×%d)", rows, cols)
			check(t, name+" value", s.download(t, lossb, 1), []float64{total / float64(rows)}, 1e-5, 1e-5)
			check(t, name+" grad", s.download(t, gb, n), wantG, 1e-6, 1e-4)
			for _, buf := range []backend.Buffer{xb, lb, gb, lossb} {
				s.b.Free(buf)
			}
		}
	}
}

func (s *suite) sgd(t *testing.T) {
	cases := []backend.SGDStep{
		{LR: 0.1},
		{LR: 0.05, WeightDecay: 0.01},
		{LR: 0.1, Momentum: 0.9},
		{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 0.001},
	}
	for _, st := range cases {
		for _, n := range Sizes {
			p, g, v := s.random(n, -1, 1), s.random(n, -1, 1), s.random(n, -1, 1)
			pb, gb, vb := s.upload(p), s.upload(g), s.upload(v)
			s.b.SGD(n, st, pb, gb, vb)
			wantP, wantV := make([]float64, n), widen(v)
			for i := range p {
				pi, gi := float64(p[i]), float64(g[i])+float64(st.WeightDecay)*float64(p[i])
				if st.Momentum != 0 {
					wantV[i] = float64(st.Momentum)*float64(v[i]) + gi
					if st.Nesterov {
						gi += float64(st.Momentum) * wantV[i]
					} else {
						gi = wantV[i]
					}
				}
				wantP[i] = pi - float64(st.LR)*gi
			}
			name := fmt.Sprintf("SGD(%+v, n=%d)", st, n)
			check(t, name+" param", s.download(t, pb, n), wantP, 1e-6, 1e-5)
			check(t, name+" velocity", s.download(t, vb, n), wantV, 1e-6, 1e-5)
			for _, buf := range []backend.Buffer{pb, gb, vb} {
				s.b.Free(buf)
			}
		}
	}
}

func (s *suite) adam(t *testing.T) {
	for _, decoupled := range []bool{false, true} {
		for _, n := range Sizes {
			const b1, b2, step = 0.9, 0.999, 3
			st := backend.AdamStep{LR: 0.01, Beta1: b1, Beta2: b2, Eps: 1e-8, WeightDecay: 0.05, Decoupled: decoupled,
				OneMinusBeta1: 1 - b1, OneMinusBeta2: 1 - b2,
				BC1: float32(1 - math.Pow(b1, step)), BC2: float32(1 - math.Pow(b2, step))}
			p, g := s.random(n, -1, 1), s.random(n, -1, 1)
			m, v := s.random(n, -0.1, 0.1), s.random(n, 0, 0.01)
			pb, gb, mb, vb := s.upload(p), s.upload(g), s.upload(m), s.upload(v)
			s.b.Adam(n, st, pb, gb, mb, vb)
			wantP, wantM, wantV := make([]float64, n), make([]float64, n), make([]float64, n)
			for i := range p {
				pi, gi := float64(p[i]), float64(g[i])
				if decoupled {
					pi *= 1 - float64(st.LR)*float64(st.WeightDecay)
				} else {
					gi += float64(st.WeightDecay) * pi
				}
				wantM[i] = b1*float64(m[i]) + (1-b1)*gi
				wantV[i] = b2*float64(v[i]) + (1-b2)*gi*gi
				mHat := wantM[i] / (1 - math.Pow(b1, step))
				vHat := wantV[i] / (1 - math.Pow(b2, step))
				wantP[i] = pi - float64(st.LR)*mHat/(math.Sqrt(vHat)+float64(st.Eps))
			}
			name := fmt.Sprintf("Adam(decoupled=%v, n=%d)", decoupled, n)
			check(t, name+" param", s.download(t, pb, n), wantP, 1e-6, 1e-5)
			check(t, name+" m", s.download(t, mb, n), wantM, 1e-7, 1e-5)
			check(t, name+" v", s.download(t, vb, n), wantV, 1e-9, 1e-5)
			for _, buf := range []backend.Buffer{pb, gb, mb, vb} {
				s.b.Free(buf)
			}
		}
	}
}

func (s *suite) gatherArgmax(t *testing.T) {
	for _, rows := range Sizes {
		for _, cols := range Sizes {
			src := s.random(rows*cols, -1, 1)
			const off = 3
			n := rows + 2
			idx := make([]float32, off+n)
			for i := range idx {
				idx[i] = float32(s.rng.IntN(rows))
			}
			sb, ib, db := s.upload(src), s.upload(idx), s.poisoned(n*cols)
			s.b.GatherRows(n, cols, sb, ib, off, db)
			want := make([]float64, n*cols)
			for i := 0; i < n; i++ {
				r := int(idx[off+i])
				copy(want[i*cols:], widen(src[r*cols:(r+1)*cols]))
			}
			name := fmt.Sprintf("(%d×%d)", rows, cols)
			check(t, "GatherRows"+name, s.download(t, db, n*cols), want, 0, 0)

			if cols > 1 {
				src[cols-1] = src[0] // a tie: the first index wins
				s.b.Upload(sb, src)
			}
			ab := s.poisoned(rows)
			s.b.ArgmaxRows(rows, cols, sb, ab)
			wantA := make([]float64, rows)
			for r := 0; r < rows; r++ {
				best := 0
				for j := 1; j < cols; j++ {
					if src[r*cols+j] > src[r*cols+best] {
						best = j
					}
				}
				wantA[r] = float64(best)
			}
			check(t, "ArgmaxRows"+name, s.download(t, ab, rows), wantA, 0, 0)
			for _, buf := range []backend.Buffer{sb, ib, db, ab} {
				s.b.Free(buf)
			}
		}
	}
}

// stickyErrors checks that the first failure is kept, later calls do
// nothing, and Sync and Download report it.
func stickyErrors(t *testing.T, open Opener) {
	failures := []struct {
		name string
		fail func(b backend.Backend)
	}{
		{"short buffer", func(b backend.Backend) { b.Copy(10, b.Alloc(5), b.Alloc(10)) }},
		{"bad label", func(b backend.Backend) {
			x, l := b.Alloc(6), b.Alloc(2)
			b.Fill(6, 0, x)
			b.Upload(l, []float32{1, 3})
			b.CrossEntropy(2, 3, x, l, b.Alloc(6), b.Alloc(1))
		}},
		{"gather out of range", func(b backend.Backend) {
			src, idx := b.Alloc(8), b.Alloc(2)
			b.Fill(8, 1, src)
			b.Upload(idx, []float32{0, 4})
			b.GatherRows(2, 2, src, idx, 0, b.Alloc(4))
		}},
		{"used after free", func(b backend.Backend) {
			x := b.Alloc(4)
			b.Free(x)
			b.Fill(4, 1, x)
		}},
		{"window larger than the padded image", func(b backend.Backend) {
			g := backend.ConvGeom{N: 1, C: 1, H: 3, W: 3, KH: 4, KW: 3, StrideH: 1, StrideW: 1}
			b.Im2Col(g, b.Alloc(9), b.Alloc(100))
		}},
		{"pooling pad over half the window", func(b backend.Backend) {
			g := backend.ConvGeom{N: 1, C: 1, H: 4, W: 4, KH: 2, KW: 2, StrideH: 2, StrideW: 2, PadH: 2}
			b.MaxPoolForward(g, b.Alloc(16), b.Alloc(100), b.Alloc(100))
		}},
		{"columns outside the row", func(b backend.Backend) {
			b.CopyColumns(2, 3, b.Alloc(8), 4, 2, b.Alloc(8), 4, 0)
		}},
		{"unknown distribution", func(b backend.Backend) {
			b.Random(backend.Distribution(7), 4, 1, 0, 0, 1, b.Alloc(4))
		}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			b, err := open()
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer b.Close()
			// Whether a kernel ran after the failure can only be seen where
			// the host can read a buffer without Download, which returns the
			// sticky error before it copies: in memory the backend wraps
			// (backend.HostWrapper, cpu). Elsewhere only the errors are
			// checked here; backend/gpu's tests check, on a fake device,
			// that no launch reaches the driver after a failure.
			host := []float32{1, 2, 3, 4}
			var good backend.Buffer
			hw, wraps := b.(backend.HostWrapper)
			if wraps {
				good = hw.Wrap(host)
			} else {
				good = b.Alloc(4)
				b.Upload(good, host)
			}
			if err := b.Sync(); err != nil {
				t.Fatalf("fresh backend: %v", err)
			}
			f.fail(b)
			first := b.Sync()
			if first == nil {
				t.Fatal("Sync returned nil after a failing call")
			}
			t.Logf("error: %v", first)
			// Each must be a no-op now.
			b.Fill(4, 9, good)
			b.Scale(4, 9, good)
			b.Random(backend.Uniform, 4, 1, 0, 9, 10, good)
			b.Upload(good, []float32{9, 9, 9, 9})
			if wraps {
				for i, v := range host {
					if v != float32(i+1) {
						t.Errorf("a call ran after the sticky error was set: host[%d] = %v, want %d", i, v, i+1)
					}
				}
			}
			got := make([]float32, 4)
			if err := b.Download(got, good); err == nil || err.Error() != first.Error() {
				t.Errorf("Download after failure returned %v, want the first error %v", err, first)
			}
			if err := b.Err(); err == nil || err.Error() != first.Error() {
				t.Errorf("Err() = %v, want %v", err, first)
			}
		})
	}
}
