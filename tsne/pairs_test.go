package tsne

import (
	"math"
	"testing"
)

// TestPairKernels checks attractRow2 (assembly on amd64 with AVX2) and its
// Go loop against direct sums, at lengths that leave every remainder of
// the four-lane steps, with neighbours in any order and P poisoned past
// the row.
func TestPairKernels(t *testing.T) {
	rng := newRand(7)
	const pts = 300
	y := make([]float64, 2*pts)
	for i := range y {
		y[i] = 20 * rng.NormFloat64()
	}
	for _, n := range []int{0, 1, 3, 4, 5, 7, 8, 33, 257} {
		// The row is followed by poison that a read past it would show:
		// NaN values, and columns far outside y (a fault if gathered).
		colMem, valMem := make([]int32, n+8), make([]float64, n+8)
		for a := range colMem {
			colMem[a], valMem[a] = 1<<30, math.NaN()
		}
		col, val := colMem[:n], valMem[:n]
		for a := range col {
			col[a] = int32(rng.IntN(pts))
			val[a] = rng.Float64()
		}
		y0, y1 := 3*rng.NormFloat64(), 3*rng.NormFloat64()
		var wx, wy float64
		for a, c := range col {
			dx, dy := y0-y[2*c], y1-y[2*c+1]
			m := val[a] / (1 + dx*dx + dy*dy)
			wx += m * dx
			wy += m * dy
		}
		for _, k := range []struct {
			name string
			fn   func([]float64, []int32, []float64, float64, float64) (float64, float64)
		}{{"attractRow2", attractRow2}, {"attractRow2Go", attractRow2Go}} {
			gx, gy := k.fn(y, col, val, y0, y1)
			if !within(gx, wx, 1e-12) || !within(gy, wy, 1e-12) {
				t.Errorf("%s, %d edges: (%v, %v), want (%v, %v)", k.name, n, gx, gy, wx, wy)
			}
		}
	}
}

// TestMatVec28 checks the assembly's matrix-vector step of the near field's
// grid correction against matVecGo and a direct sum.
func TestMatVec28(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2 kernel on this machine")
	}
	rng := newRand(3)
	for _, n := range []int{1, 2, 7, 9} {
		mat, src := make([]float64, n*matVec28Len), make([]float64, n)
		for i := range mat {
			mat[i] = rng.NormFloat64()
		}
		for i := range src {
			src[i] = rng.NormFloat64()
		}
		acc, accGo := make([]float64, matVec28Len), make([]float64, matVec28Len)
		want := make([]float64, matVec28Len)
		for r := range acc {
			acc[r] = float64(r)
			accGo[r] = float64(r)
			want[r] = float64(r)
			for s := 0; s < n; s++ {
				want[r] += src[s] * mat[s*matVec28Len+r]
			}
		}
		matVec28AVX2(&mat[0], &src[0], n, &acc[0])
		matVecGo(mat, src, accGo)
		for r := range acc {
			if !within(acc[r], want[r], 1e-13) || !within(accGo[r], want[r], 1e-13) {
				t.Fatalf("%d sources, entry %d: assembly %v, Go %v, want %v", n, r, acc[r], accGo[r], want[r])
			}
		}
	}
}

// within reports whether got is within rel of want, relative to |want|
// (or absolutely, near zero).
func within(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), 1e-3)
}

// TestFirstAtMost checks the scan against a plain loop at every length
// around the assembly's 8-wide steps, with the first hit anywhere.
func TestFirstAtMost(t *testing.T) {
	rng := newRand(5)
	for n := 0; n <= 41; n++ {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.Float64())
		}
		for _, thr := range []float32{-1, 0.01, 0.2, 0.5, 2, float32(math.Inf(1))} {
			want := n
			for i, x := range v {
				if x <= thr {
					want = i
					break
				}
			}
			if got := firstAtMost(v, thr); got != want {
				t.Errorf("%d values, threshold %v: %d, want %d", n, thr, got, want)
			}
		}
		if n > 0 { // a hit that equals the threshold
			if got := firstAtMost(v, v[n-1]); got > n-1 || v[got] > v[n-1] {
				t.Errorf("%d values: threshold v[%d] found at %d", n, n-1, got)
			}
		}
	}
}

// TestNearSym2 checks nearSym2 (assembly on amd64) and its Go loop against
// direct sums: the point's sums, and every run point's entries of f less
// the pair's force on the point, the others untouched, at run lengths
// that leave every remainder of the four-lane steps.
func TestNearSym2(t *testing.T) {
	rng := newRand(11)
	for _, np := range []int{1, 2, 3, 4, 5, 7, 8, 9, 33, 70} {
		ys := make([]float64, 2*np)
		for i := range ys {
			ys[i] = 4 * rng.NormFloat64()
		}
		y0, y1 := rng.NormFloat64(), rng.NormFloat64()
		runs := []int32{int32(np / 4), int32(np / 2), int32(np/2 + 1), int32(np)}
		if np/2+1 > np {
			runs = runs[:2]
		}
		f0 := make([]float64, 2*np)
		for i := range f0 {
			f0[i] = float64(i) // not zero, so that a store of the difference alone shows
		}
		wantF := append([]float64(nil), f0...)
		var wz, wx, wy float64
		for r := 0; r < len(runs); r += 2 {
			for p := int(runs[r]); p < int(runs[r+1]); p++ {
				dx, dy := y0-ys[2*p], y1-ys[2*p+1]
				q := 1 / (1 + dx*dx + dy*dy)
				wz += q
				wx += q * q * dx
				wy += q * q * dy
				wantF[2*p] -= q * q * dx
				wantF[2*p+1] -= q * q * dy
			}
		}
		for _, k := range []struct {
			name string
			fn   func(ys, f []float64, runs []int32, yx, yy float64) (float64, float64, float64)
		}{{"nearSym2", nearSym2}, {"nearSym2Go", nearSym2Go}} {
			f := append([]float64(nil), f0...)
			z, fx, fy := k.fn(ys, f, runs, y0, y1)
			if !within(z, wz, 1e-12) || !within(fx, wx, 1e-12) || !within(fy, wy, 1e-12) {
				t.Errorf("%s, %d points: (%v, %v, %v), want (%v, %v, %v)", k.name, np, z, fx, fy, wz, wx, wy)
			}
			for e := range f {
				if !within(f[e], wantF[e], 1e-12) {
					t.Errorf("%s, %d points, runs %v: f[%d] = %v, want %v", k.name, np, runs, e, f[e], wantF[e])
				}
			}
		}
	}
}
