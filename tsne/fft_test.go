package tsne

import (
	"math"
	"math/rand/v2"
	"testing"
)

// exactRepulsion is the O(n²) reference: F_i = Σ_j (y_i-y_j)/(1+|y_i-y_j|²)²
// and Z = Σ_{i≠j} 1/(1+|y_i-y_j|²).
func exactRepulsion(y []float64, n, d int) ([]float64, float64) {
	f := make([]float64, n*d)
	var z float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i == j {
				continue
			}
			q := 1 / (1 + sqDist(y[i*d:(i+1)*d], y[j*d:(j+1)*d]))
			z += q
			for c := 0; c < d; c++ {
				f[i*d+c] += q * q * (y[i*d+c] - y[j*d+c])
			}
		}
	}
	return f, z
}

// mapLike is n points in d dimensions spread like a t-SNE map: clusters of
// unit-scale spread whose centres span about span.
func mapLike(n, d int, span float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	const k = 8
	centres := make([]float64, k*d)
	for i := range centres {
		centres[i] = span * (rng.Float64() - 0.5)
	}
	y := make([]float64, n*d)
	for i := 0; i < n; i++ {
		for c := 0; c < d; c++ {
			y[i*d+c] = centres[(i%k)*d+c] + 2*rng.NormFloat64()
		}
	}
	return y
}

// fftError is the relative error of the FFT forces (in the 2-norm over all
// points) and of Z against the exact ones.
func fftError(t *testing.T, y []float64, n, d int, prm fftParams, workers int) (force, z float64) {
	t.Helper()
	want, wantZ := exactRepulsion(y, n, d)
	g := newFFTGrid(d, prm)
	got := make([]float64, n*d)
	for i := range got {
		got[i] = math.NaN() // every value must be written
	}
	gotZ := g.repulsion(y, n, workers, got)
	var diff, norm float64
	for i := range want {
		diff += (got[i] - want[i]) * (got[i] - want[i])
		norm += want[i] * want[i]
	}
	return math.Sqrt(diff / norm), math.Abs(gotZ-wantZ) / wantZ
}

// The FFT forces and Z against the exact O(n²) sums, in 1-D and 2-D, for
// awkward sizes, at the defaults (3 nodes per box, the near field, the
// priced layout): within the stated bound; and, for the interpolation
// alone, closer as it gets finer, by more nodes per box or by narrower
// boxes.
func TestFFTRepulsionMatchesExact(t *testing.T) {
	// Relative bounds at the defaults, on the forces' 2-norm and on Z:
	// two thirds and a fifth of Barnes-Hut's at theta 0.5 (1.5% and 0.9%
	// on a real map). The defaults give at most 0.8% and 2e-3 here (Z on
	// 7 points, whose few pairs a box or more apart carry the
	// interpolation's whole error); the interpolation alone at 3 nodes
	// per box of width 1 (FIt-SNE's default) gave 4%, which left the KL
	// of whole maps 10% above Barnes-Hut's.
	const forceBound, zBound = 0.01, 2.5e-3
	for _, d := range []int{1, 2} {
		for _, c := range []struct {
			n    int
			span float64
		}{{7, 3}, {33, 10}, {257, 30}, {600, 120}} {
			y := mapLike(c.n, d, c.span, uint64(c.n))
			ef, ez := fftError(t, y, c.n, d, defaultFFT, 3)
			t.Logf("%d-D n=%d span %g: relative error %.2e (forces), %.2e (Z)", d, c.n, c.span, ef, ez)
			if !(ef < forceBound && ez < zBound) {
				t.Errorf("%d-D n=%d span %g: relative error %.3g (forces), %.3g (Z); want below %g and %g", d, c.n, c.span, ef, ez, forceBound, zBound)
			}
		}
		// Finer interpolation, smaller error: nodes per box 2, 3, 4, 5,
		// then narrower boxes at 3 nodes.
		const n = 300
		y := mapLike(n, d, 120, 11)
		prev := math.Inf(1)
		for _, s := range []struct {
			p      int
			maxBox float64
		}{{2, 1}, {3, 1}, {4, 1}, {5, 1}} {
			ef, ez := fftError(t, y, n, d, fftParams{p: s.p, maxBox: s.maxBox, minBoxes: fftMinBoxes}, 2)
			t.Logf("%d-D, %d nodes per box, boxes ≤ %g: relative error %.2e (forces), %.2e (Z)", d, s.p, s.maxBox, ef, ez)
			if !(ef < prev/2) {
				t.Errorf("%d-D, %d nodes per box: force error %.3g, not below half the coarser %.3g", d, s.p, ef, prev)
			}
			prev = ef
		}
		prev = math.Inf(1)
		for _, maxBox := range []float64{2, 1, 0.5} {
			ef, _ := fftError(t, y, n, d, fftParams{p: 3, maxBox: maxBox, minBoxes: fftMinBoxes}, 2)
			t.Logf("%d-D, 3 nodes per box, boxes ≤ %g: relative error %.2e (forces)", d, maxBox, ef)
			if !(ef < prev/2) {
				t.Errorf("%d-D, boxes ≤ %g: force error %.3g, not below half the coarser %.3g", d, maxBox, ef, prev)
			}
			prev = ef
		}
	}
}

// The exact near field (fftnear.go) against the exact O(n²) sums: at 3
// nodes per box it is within the bound whatever the box width (the grid
// then carries only pairs at least a box apart, where the kernel is
// smooth), far closer than the interpolation alone at the same width, and
// closer still with more nodes per box; Z to 1e-3. The near field's
// layout, its forces and Z do not depend on the number of workers, bit for
// bit.
func TestFFTNearFieldMatchesExact(t *testing.T) {
	const forceBound, zBound = 0.01, 1e-3
	for _, d := range []int{1, 2} {
		const n = 700
		y := mapLike(n, d, 150, 21)
		for _, h := range []float64{1, 2, 4} {
			near, zNear := fftError(t, y, n, d, fftParams{p: 3, maxBox: 8, minBoxes: 1, withNear: true, pureBox: 0.25, fixedBox: h}, 2)
			pure, _ := fftError(t, y, n, d, fftParams{p: 3, maxBox: h, minBoxes: 1}, 2)
			t.Logf("%d-D, boxes %g wide: relative error %.2e with the near field (Z %.1e), %.2e without", d, h, near, zNear, pure)
			if !(near < forceBound && zNear < zBound) {
				t.Errorf("%d-D, boxes %g wide: near-field error %.3g (forces), %.3g (Z); want below %g and %g", d, h, near, zNear, forceBound, zBound)
			}
			if !(near < pure/5) {
				t.Errorf("%d-D, boxes %g wide: near-field error %.3g, not a fifth of the interpolation's alone %.3g", d, h, near, pure)
			}
		}
		prev := math.Inf(1)
		for _, p := range []int{2, 3, 4, 5} {
			ef, _ := fftError(t, y, n, d, fftParams{p: p, maxBox: 8, minBoxes: 1, withNear: true, pureBox: 0.25, fixedBox: 2}, 2)
			t.Logf("%d-D, near field, %d nodes per box: relative error %.2e", d, p, ef)
			if !(ef < prev/2) {
				t.Errorf("%d-D, near field, %d nodes per box: error %.3g, not below half the coarser %.3g", d, p, ef, prev)
			}
			prev = ef
		}
	}
	// Workers: the same layout, forces and Z.
	const n = 3000
	y := mapLike(n, 2, 150, 5)
	var first []float64
	var firstZ float64
	for _, workers := range []int{1, 2, 3} {
		g := newFFTGrid(2, defaultFFT)
		rep := make([]float64, 2*n)
		var z float64
		for range layoutEvery + 1 { // through a priced layout
			z = g.repulsion(y, n, workers, rep)
		}
		if !g.useNear {
			t.Fatalf("%d workers: the default layout of a map 150 wide does not use the near field", workers)
		}
		if first == nil {
			first, firstZ = rep, z
			continue
		}
		if z != firstZ {
			t.Errorf("Z %v with 1 worker, %v with %d", firstZ, z, workers)
		}
		for i := range rep {
			if rep[i] != first[i] {
				t.Fatalf("force %d: %v with 1 worker, %v with %d", i, first[i], rep[i], workers)
			}
		}
	}
}

// The priced layout: the near field on a spread map; on a dense one (many
// points in few boxes, as at the start of a large map) the interpolation
// alone at its accurate width, whose grid costs less than the near pairs
// would.
func TestFFTLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	dense := make([]float64, 2*50000)
	for i := range dense {
		dense[i] = 0.01 * rng.NormFloat64()
	}
	for _, c := range []struct {
		name string
		y    []float64
		near bool
	}{{"2000 points 150 wide", mapLike(2000, 2, 150, 3), true}, {"50 000 points 0.1 wide", dense, false}} {
		n := len(c.y) / 2
		g := newFFTGrid(2, defaultFFT)
		rep := make([]float64, 2*n)
		for range 2 * layoutEvery {
			g.repulsion(c.y, n, 2, rep)
		}
		t.Logf("%s: near field %v, boxes %.3g wide, %d per dimension", c.name, g.useNear, g.h, g.nb)
		if g.useNear != c.near {
			t.Errorf("%s: near field %v, want %v", c.name, g.useNear, c.near)
		}
	}
}
