package tsne

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// handExample is the small input whose measures scikit-learn 1.2.1 gave
// (sklearn.manifold.trustworthiness; a leave-one-out vote over
// NearestNeighbors' neighbours for the accuracy).
func handExample() (x, y []float64, labels []int) {
	const n = 20
	for i := 0; i < n; i++ {
		for j := 0; j < 4; j++ {
			x = append(x, math.Sin(1.3*float64(i*j)+0.7*float64(j)+float64(i)))
		}
		for j := 0; j < 2; j++ {
			y = append(y, math.Cos(0.9*float64(i*j)+1.1*float64(j)+0.5*float64(i)))
		}
		labels = append(labels, (i*7)%3)
	}
	return x, y, labels
}

func TestQualityKnownValues(t *testing.T) {
	x, y, labels := handExample()
	for _, c := range []struct {
		k            int
		trust, knnAc float64
	}{{1, 0.43055555555555558, 0.45}, {3, 0.45333333333333337, 0.2}, {5, 0.49166666666666659, 0.1}} {
		tr, err := Trustworthiness(x, 20, 4, y, 2, c.k, 0, 1)
		if err != nil || math.Abs(tr-c.trust) > 1e-12 {
			t.Errorf("k=%d: trustworthiness %v (%v), scikit-learn %v", c.k, tr, err, c.trust)
		}
		ac, err := KNNAccuracy(y, 20, 2, labels, c.k)
		if err != nil || math.Abs(ac-c.knnAc) > 1e-12 {
			t.Errorf("k=%d: kNN accuracy %v (%v), scikit-learn's neighbours give %v", c.k, ac, err, c.knnAc)
		}
	}
}

// refTrust is the definition, with every rank from a full sort.
func refTrust(x []float64, n, d int, y []float64, dims, k int) float64 {
	rank := func(z []float64, zd, i int) []int { // others of i, nearest first, ties by index
		var o []int
		for j := 0; j < n; j++ {
			if j != i {
				o = append(o, j)
			}
		}
		sort.SliceStable(o, func(a, b int) bool {
			return sqDist(z[i*zd:(i+1)*zd], z[o[a]*zd:(o[a]+1)*zd]) < sqDist(z[i*zd:(i+1)*zd], z[o[b]*zd:(o[b]+1)*zd])
		})
		return o
	}
	var sum float64
	for i := 0; i < n; i++ {
		in, emb := rank(x, d, i), rank(y, dims, i)
		r := map[int]int{}
		for p, j := range in {
			r[j] = p + 1
		}
		for _, j := range emb[:k] {
			sum += math.Max(0, float64(r[j]-k))
		}
	}
	fn, fk := float64(n), float64(k)
	return 1 - 2/(fn*fk*(2*fn-3*fk-1))*sum
}

// refKNN is the leave-one-out vote from a full sort.
func refKNN(y []float64, n, dims int, labels []int, k int) float64 {
	right := 0
	for i := 0; i < n; i++ {
		var o []int
		for j := 0; j < n; j++ {
			if j != i {
				o = append(o, j)
			}
		}
		sort.SliceStable(o, func(a, b int) bool {
			return sqDist(y[i*dims:(i+1)*dims], y[o[a]*dims:(o[a]+1)*dims]) < sqDist(y[i*dims:(i+1)*dims], y[o[b]*dims:(o[b]+1)*dims])
		})
		votes := map[int]int{}
		for _, j := range o[:k] {
			votes[labels[j]]++
		}
		best := -1
		for l, v := range votes {
			if best < 0 || v > votes[best] || v == votes[best] && l < best {
				best = l
			}
		}
		if best == labels[i] {
			right++
		}
	}
	return float64(right) / float64(n)
}

// Against the references on awkward sizes, 1-D to 3-D maps, with
// duplicated points (distance ties) and clustered maps where the grid
// search meets many empty cells; and the subset is the measure of the
// subset's own rows.
func TestQualityMatchesReferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{7, 33, 257} {
		for _, dims := range []int{1, 2, 3} {
			const d = 6
			x, labels := clusters(n, d, 4, uint64(n))
			y := mapLike(n, dims, 40, uint64(n+dims))
			copy(y[dims:2*dims], y[:dims]) // a duplicate
			for i := range labels {
				if rng.IntN(4) == 0 {
					labels[i] = rng.IntN(4)
				}
			}
			for _, k := range []int{1, 3, 10} {
				if 2*k >= n {
					continue
				}
				got, err := Trustworthiness(x, n, d, y, dims, k, 0, 1)
				if want := refTrust(x, n, d, y, dims, k); err != nil || math.Abs(got-want) > 1e-12 {
					t.Errorf("n=%d %d-D k=%d: trustworthiness %v (%v), reference %v", n, dims, k, got, err, want)
				}
				ac, err := KNNAccuracy(y, n, dims, labels, k)
				if want := refKNN(y, n, dims, labels, k); err != nil || ac != want {
					t.Errorf("n=%d %d-D k=%d: kNN accuracy %v (%v), reference %v", n, dims, k, ac, err, want)
				}
			}
		}
	}
	const n, d, dims, s = 300, 5, 2, 120
	x, _ := clusters(n, d, 3, 2)
	y := mapLike(n, dims, 30, 3)
	got, err := Trustworthiness(x, n, d, y, dims, 10, s, 9)
	idx := sampleIndices(n, s, 9)
	if want := refTrust(gather(x, d, idx), s, d, gather(y, dims, idx), dims, 10); err != nil || math.Abs(got-want) > 1e-12 {
		t.Errorf("subset of %d: %v (%v), reference on the subset %v", s, got, err, want)
	}
}

func TestQualityBadInput(t *testing.T) {
	x, y, labels := handExample()
	nan := append([]float64(nil), y...)
	nan[5] = math.NaN()
	for name, err := range map[string]error{
		"k too large":   func() error { _, err := Trustworthiness(x, 20, 4, y, 2, 10, 0, 1); return err }(),
		"short y":       func() error { _, err := Trustworthiness(x, 20, 4, y[:10], 2, 3, 0, 1); return err }(),
		"NaN map":       func() error { _, err := Trustworthiness(x, 20, 4, nan, 2, 3, 0, 1); return err }(),
		"NaN map (kNN)": func() error { _, err := KNNAccuracy(nan, 20, 2, labels, 3); return err }(),
		"labels":        func() error { _, err := KNNAccuracy(y, 20, 2, labels[:3], 3); return err }(),
		"k = n":         func() error { _, err := KNNAccuracy(y, 20, 2, labels, 20); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// PCA against the definition: the components are orthonormal, ordered by
// variance, with the documented sign; projecting onto all d of them keeps
// every distance; and on data with known axes it finds them.
func TestPCA(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, c := range []struct{ n, d, k int }{{7, 3, 2}, {33, 5, 5}, {257, 12, 4}, {1, 3, 1}} {
		x := make([]float64, c.n*c.d)
		for i := 0; i < c.n; i++ {
			for j := 0; j < c.d; j++ {
				x[i*c.d+j] = rng.NormFloat64() * float64(c.d-j) * 3 // variance falls with j
			}
		}
		z, err := PCA(x, c.n, c.d, c.k)
		if err != nil {
			t.Fatal(err)
		}
		// Variances in decreasing order, columns centred.
		prev := math.Inf(1)
		for a := 0; a < c.k; a++ {
			var mean, v float64
			for i := 0; i < c.n; i++ {
				mean += z[i*c.k+a]
				v += z[i*c.k+a] * z[i*c.k+a]
			}
			if math.Abs(mean) > 1e-9*float64(c.n) || v > prev*(1+1e-9) {
				t.Errorf("%+v: component %d: mean %v, variance %v after %v", c, a, mean/float64(c.n), v, prev)
			}
			prev = v
		}
		if c.k == c.d { // a rotation of the centred data
			for i := 0; i < c.n; i++ {
				for j := 0; j < c.n; j++ {
					if dz, dx := sqDist(z[i*c.k:(i+1)*c.k], z[j*c.k:(j+1)*c.k]), sqDist(x[i*c.d:(i+1)*c.d], x[j*c.d:(j+1)*c.d]); math.Abs(dz-dx) > 1e-9*(1+dx) {
						t.Fatalf("%+v: distance %d-%d: %v after PCA, %v before", c, i, j, dz, dx)
					}
				}
			}
		}
	}
	// Points on a line along (1, 2, 2)/3 through (5, 5, 5), plus a little
	// noise on the second axis: the first component is the line, oriented
	// so that its largest entry is positive, and the projections are the
	// positions along it.
	const n = 50
	x := make([]float64, 3*n)
	for i := 0; i < n; i++ {
		s := float64(i) - 24.5
		x[3*i], x[3*i+1], x[3*i+2] = 5+s/3, 5+2*s/3+0.01*math.Sin(float64(i)), 5+2*s/3
	}
	z, err := PCA(x, n, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if want := float64(i) - 24.5; math.Abs(z[i]-want) > 1e-2 {
			t.Fatalf("point %d: %v along the line, want %v", i, z[i], want)
		}
	}
	for _, k := range []int{0, -1, 4} {
		if _, err := PCA(x, n, 3, k); err == nil {
			t.Errorf("PCA to %d of 3 components: no error", k)
		}
	}
	x[7] = math.NaN()
	if _, err := PCA(x, n, 3, 2); err == nil {
		t.Error("PCA of a NaN: no error")
	}
}
