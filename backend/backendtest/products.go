package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/diynn/diynn/backend"
)

// products checks Mul, MulRowVector and ScaleBy against float64, into fresh
// NaN-poisoned outputs and in place (the output aliasing an input).
func (s *suite) products(t *testing.T) {
	for _, n := range append([]int{0}, Sizes...) {
		x, y := s.random(n, -2, 2), s.random(n, -2, 2)
		want := make([]float64, n)
		for i := range want {
			want[i] = float64(x[i]) * float64(y[i])
		}
		xb, yb, db := s.upload(x), s.upload(y), s.poisoned(n+1)
		s.b.Mul(n, xb, yb, db)
		got := s.download(t, db, n+1)
		check(t, fmt.Sprintf("Mul(n=%d)", n), got[:n], want, 0, 1e-7)
		if !math.IsNaN(float64(got[n])) {
			t.Errorf("Mul(n=%d) wrote past n: %v", n, got[n])
		}
		s.b.Mul(n, xb, yb, yb) // dst = y
		check(t, fmt.Sprintf("Mul(n=%d) into y", n), s.download(t, yb, n), want, 0, 1e-7)
		s.b.Upload(yb, y)
		s.b.Mul(n, xb, yb, xb) // dst = x
		check(t, fmt.Sprintf("Mul(n=%d) into x", n), s.download(t, xb, n), want, 0, 1e-7)

		// ScaleBy with the scale on the device; then in place.
		sb := s.upload([]float32{0.75})
		s.b.Upload(xb, x)
		s.b.ScaleBy(n, -1.5, sb, xb, db)
		for i := range want {
			want[i] = -1.5 * 0.75 * float64(x[i])
		}
		check(t, fmt.Sprintf("ScaleBy(n=%d)", n), s.download(t, db, n), want, 0, 1e-6)
		s.b.ScaleBy(n, -1.5, sb, xb, xb)
		check(t, fmt.Sprintf("ScaleBy(n=%d) in place", n), s.download(t, xb, n), want, 0, 1e-6)
		for _, b := range []backend.Buffer{xb, yb, db, sb} {
			s.b.Free(b)
		}
	}
	// Empty shapes too: rows = 0 or cols = 0 is a no-op that touches
	// nothing (the poisoned output stays NaN) and is not an error.
	dims := append([]int{0}, Sizes...)
	for _, rows := range dims {
		for _, cols := range dims {
			x, v := s.random(rows*cols, -2, 2), s.random(cols, -2, 2)
			want := make([]float64, rows*cols)
			for i := range want {
				want[i] = float64(x[i]) * float64(v[i%cols])
			}
			xb, vb, yb := s.upload(x), s.upload(v), s.poisoned(rows*cols)
			name := fmt.Sprintf("MulRowVector(%d×%d)", rows, cols)
			s.b.MulRowVector(rows, cols, vb, xb, yb)
			if err := s.b.Sync(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			check(t, name, s.download(t, yb, rows*cols), want, 0, 1e-7)
			s.b.MulRowVector(rows, cols, vb, xb, xb)
			check(t, name+" in place", s.download(t, xb, rows*cols), want, 0, 1e-7)
			for _, b := range []backend.Buffer{xb, vb, yb} {
				s.b.Free(b)
			}
		}
	}
}

// norms checks SumSquares (beta 0 into a NaN, beta 1 and 0.5 onto a
// value; sizes that span several of any backend's chunks) and ClipFactor.
func (s *suite) norms(t *testing.T) {
	for _, n := range append([]int{0}, append(Sizes, 9000, 70001)...) {
		x := s.random(n, -2, 2)
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		xb := s.upload(x)
		for _, beta := range []float32{0, 1, 0.5} {
			var ob backend.Buffer
			want := ss
			if beta == 0 {
				ob = s.poisoned(1) // beta = 0 must not read out
			} else {
				ob = s.upload([]float32{2.5})
				want += float64(beta) * 2.5
			}
			s.b.SumSquares(n, xb, beta, ob)
			check(t, fmt.Sprintf("SumSquares(n=%d, beta=%v)", n, beta), s.download(t, ob, 1), []float64{want}, 1e-6, 2e-6)
			s.b.Free(ob)
		}
		// The same sum twice: nothing in the order depends on timing.
		o1, o2 := s.poisoned(1), s.poisoned(1)
		s.b.SumSquares(n, xb, 0, o1)
		s.b.SumSquares(n, xb, 0, o2)
		if a, b := s.download(t, o1, 1)[0], s.download(t, o2, 1)[0]; math.Float32bits(a) != math.Float32bits(b) {
			t.Errorf("SumSquares(n=%d) gave %v then %v", n, a, b)
		}
		for _, b := range []backend.Buffer{xb, o1, o2} {
			s.b.Free(b)
		}
	}
	const maxNorm = 5
	for _, ss := range []float32{0, 1e-12, 4, 24.9999, 25, 100, 1e6, float32(math.Inf(1)), float32(math.NaN())} {
		want := math.Min(1, maxNorm/(math.Sqrt(float64(ss))+1e-6))
		if math.IsNaN(float64(ss)) {
			want = math.NaN()
		}
		sb, fb := s.upload([]float32{ss}), s.poisoned(1)
		s.b.ClipFactor(maxNorm, sb, fb)
		check(t, fmt.Sprintf("ClipFactor(%v, sumSquares=%v)", maxNorm, ss), s.download(t, fb, 1), []float64{want}, 0, 1e-6)
		s.b.Free(sb)
		s.b.Free(fb)
	}
}
