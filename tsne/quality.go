package tsne

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Quality measures of an embedding beyond the KL divergence, which depends
// on the perplexity and cannot be compared across methods that optimise
// different objectives.

// Trustworthiness is Venna & Kaski's trustworthiness of the embedding y
// (n×dims) of x (n×d), as scikit-learn's sklearn.manifold.trustworthiness
// defines it:
//
//	T(k) = 1 - 2/(n·k·(2n - 3k - 1)) · Σ_i Σ_{j ∈ U_i} (r(i, j) - k),
//
// where U_i are the points among i's k nearest neighbours in the embedding
// that are not among its k nearest in the input, and r(i, j) is j's rank
// among i's neighbours in the input (1 for the nearest). It is 1 when the
// embedding brings no false neighbours; k = 10 is usual.
//
// The ranks cost n² distances, so for n above subset (when subset > 0) the
// measure is that of a random subset of subset points drawn with seed, the
// ranks and neighbours computed within the subset, as if it were the whole
// data set (as scikit-learn would on x[subset], y[subset]); 10 000 points
// take a few seconds. Ties in the input distances rank the lower index
// first. k must be below half the points measured, as scikit-learn requires.
func Trustworthiness(x []float64, n, d int, y []float64, dims, k int, subset int, seed uint64) (float64, error) {
	if n <= 0 || d <= 0 || len(x) != n*d {
		return 0, fmt.Errorf("tsne: trustworthiness: %d input values for %d points of %d dimensions", len(x), n, d)
	}
	if dims <= 0 || len(y) != n*dims {
		return 0, fmt.Errorf("tsne: trustworthiness: %d embedding values for %d points of %d dimensions", len(y), n, dims)
	}
	idx := sampleIndices(n, subset, seed)
	s := len(idx)
	if k < 1 || 2*k >= s {
		return 0, fmt.Errorf("tsne: trustworthiness with k = %d of %d points: want 1 ≤ k < %d (half the points)", k, s, (s+1)/2)
	}
	xs, ys := gather(x, d, idx), gather(y, dims, idx)
	for i, v := range xs {
		if !finite(v) {
			return 0, fmt.Errorf("tsne: trustworthiness: input value %d of point %d is %v", i%d, idx[i/d], v)
		}
	}
	for i, v := range ys {
		if !finite(v) {
			return 0, fmt.Errorf("tsne: trustworthiness: embedding value %d of point %d is %v", i%dims, idx[i/dims], v)
		}
	}
	nbr, _ := bruteKNN(ys, s, dims, k, runtime.GOMAXPROCS(0))
	// The input distances of each row, in blocks by a matrix product; a
	// point's rank of j is 1 + the number of others nearer than j.
	norms := make([]float64, s)
	for i := range norms {
		norms[i] = sqNorm(xs[i*d : (i+1)*d])
	}
	const block = 128
	blocks := (s + block - 1) / block
	penalty := make([]float64, blocks) // per block, summed in order below
	all := blas64.General{Rows: s, Cols: d, Stride: d, Data: xs}
	parallelRange(blocks, runtime.GOMAXPROCS(0), func(lo, hi int) {
		prod := make([]float64, block*s)
		thr := make([]float64, k)
		ids := make([]int, k)
		cnt := make([]int, k)
		for b := lo; b < hi; b++ {
			r0, r1 := b*block, min((b+1)*block, s)
			rows := blas64.General{Rows: r1 - r0, Cols: d, Stride: d, Data: xs[r0*d : r1*d]}
			out := blas64.General{Rows: r1 - r0, Cols: s, Stride: s, Data: prod[:(r1-r0)*s]}
			blas64.Gemm(blas.NoTrans, blas.Trans, 1, rows, all, 0, out)
			var pen float64
			for i := r0; i < r1; i++ {
				row := prod[(i-r0)*s : (i-r0+1)*s]
				for j := range row {
					row[j] = norms[i] + norms[j] - 2*row[j]
				}
				for m := 0; m < k; m++ {
					ids[m] = nbr[i*k+m]
					thr[m] = row[ids[m]]
					cnt[m] = 0
				}
				for l, dl := range row {
					if l == i {
						continue
					}
					for m := 0; m < k; m++ {
						if dl < thr[m] || dl == thr[m] && l < ids[m] {
							cnt[m]++
						}
					}
				}
				for m := 0; m < k; m++ {
					if r := cnt[m] + 1; r > k {
						pen += float64(r - k)
					}
				}
			}
			penalty[b] = pen
		}
	})
	var sum float64
	for _, p := range penalty {
		sum += p
	}
	fs, fk := float64(s), float64(k)
	return 1 - 2/(fs*fk*(2*fs-3*fk-1))*sum, nil
}

// KNNAccuracy is the leave-one-out accuracy of a k-nearest-neighbour
// classifier in the embedding y (n×dims): the fraction of points whose
// label is the most common among their k nearest other points. A tie
// between labels goes to the smallest label, as scikit-learn's
// KNeighborsClassifier (uniform weights) decides it; neighbours at equal
// distance are taken in index order. k = 10 is usual.
func KNNAccuracy(y []float64, n, dims int, labels []int, k int) (float64, error) {
	if n <= 0 || dims <= 0 || len(y) != n*dims {
		return 0, fmt.Errorf("tsne: kNN accuracy: %d values for %d points of %d dimensions", len(y), n, dims)
	}
	if len(labels) != n {
		return 0, fmt.Errorf("tsne: kNN accuracy: %d labels for %d points", len(labels), n)
	}
	if k < 1 || k >= n {
		return 0, fmt.Errorf("tsne: kNN accuracy with k = %d of %d points: want 1 ≤ k < %d", k, n, n)
	}
	for i, v := range y {
		if !finite(v) {
			return 0, fmt.Errorf("tsne: kNN accuracy: value %d of point %d is %v", i%dims, i/dims, v)
		}
	}
	maxLabel := 0
	for i, l := range labels {
		if l < 0 {
			return 0, fmt.Errorf("tsne: kNN accuracy: label %d of point %d is negative", l, i)
		}
		maxLabel = max(maxLabel, l)
	}
	nbr, _ := bruteKNN(y, n, dims, k, runtime.GOMAXPROCS(0))
	right := make([]int, n)
	parallelRange(n, runtime.GOMAXPROCS(0), func(lo, hi int) {
		votes := make([]int, maxLabel+1)
		for i := lo; i < hi; i++ {
			clear(votes)
			for _, j := range nbr[i*k : (i+1)*k] {
				votes[labels[j]]++
			}
			best := 0
			for l, v := range votes {
				if v > votes[best] {
					best = l
				}
			}
			if best == labels[i] {
				right[i] = 1
			}
		}
	})
	total := 0
	for _, r := range right {
		total += r
	}
	return float64(total) / float64(n), nil
}

// sampleIndices returns all of 0..n-1, or, if 0 < subset < n, subset of
// them drawn with seed, in increasing order.
func sampleIndices(n, subset int, seed uint64) []int {
	if subset <= 0 || subset >= n {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	rng := rand.New(rand.NewPCG(seed, 0x7e57))
	idx := rng.Perm(n)[:subset]
	slices.Sort(idx)
	return idx
}

func gather(x []float64, d int, idx []int) []float64 {
	out := make([]float64, len(idx)*d)
	for a, i := range idx {
		copy(out[a*d:(a+1)*d], x[i*d:(i+1)*d])
	}
	return out
}

// bruteKNN returns each point's k nearest other points in a low-dimensional
// space, nearest first, ties in index order, by a uniform grid of cells:
// exact, and near-linear for maps where points are spread over the cells.
func bruteKNN(y []float64, n, dims, k, workers int) ([]int, []float64) {
	// Cells of a grid over the bounding box, about 2 points per cell.
	g := min(dims, 3) // gridded dimensions; more than 3 is brute force
	var lo, hi [3]float64
	for c := 0; c < g; c++ {
		lo[c], hi[c] = math.Inf(1), math.Inf(-1)
		for i := 0; i < n; i++ {
			lo[c], hi[c] = math.Min(lo[c], y[i*dims+c]), math.Max(hi[c], y[i*dims+c])
		}
	}
	cellsPer := max(1, int(math.Pow(float64(n)/2, 1/float64(g))))
	if dims > 3 {
		cellsPer = 1
	}
	var width [3]float64
	cells := 1
	for c := 0; c < g; c++ {
		width[c] = math.Max((hi[c]-lo[c])/float64(cellsPer), 1e-300)
		cells *= cellsPer
	}
	cellOf := func(p []float64) (cell [3]int) {
		for c := 0; c < g; c++ {
			cell[c] = min(cellsPer-1, max(0, int((p[c]-lo[c])/width[c])))
		}
		return cell
	}
	flat := func(cell [3]int) int { return (cell[2]*cellsPer+cell[1])*cellsPer + cell[0] }
	start := make([]int, cells+1)
	home := make([]int, n)
	for i := 0; i < n; i++ {
		home[i] = flat(cellOf(y[i*dims : (i+1)*dims]))
		start[home[i]+1]++
	}
	for c := 0; c < cells; c++ {
		start[c+1] += start[c]
	}
	members := make([]int, n)
	fill := slices.Clone(start[:cells])
	for i := 0; i < n; i++ { // in index order: ties are then met in index order
		members[fill[home[i]]] = i
		fill[home[i]]++
	}
	nbr, dist := make([]int, n*k), make([]float64, n*k)
	parallelRange(n, workers, func(lo0, hi0 int) {
		h := make(tieHeap, 0, k)
		for i := lo0; i < hi0; i++ {
			p := y[i*dims : (i+1)*dims]
			centre := cellOf(p)
			h = h[:0]
			// Rings of cells around i's, until the k-th nearest found is
			// nearer than any cell not yet visited.
			for ring := 0; ; ring++ {
				visit := func(cell [3]int) {
					for _, j := range members[start[flat(cell)]:start[flat(cell)+1]] {
						if j != i {
							h.offerTie(neighbour{j, sqDist(p, y[j*dims:(j+1)*dims])}, k)
						}
					}
				}
				ringCells(centre, ring, g, cellsPer, visit)
				if ring >= cellsPer {
					break
				}
				if len(h) == k {
					reach := math.Inf(1)
					for c := 0; c < g; c++ {
						reach = math.Min(reach, float64(ring)*width[c])
					}
					if h[0].dist < reach*reach {
						break
					}
				}
			}
			for m := len(h) - 1; m >= 0; m-- {
				v := h.popTie()
				nbr[i*k+m], dist[i*k+m] = v.point, math.Sqrt(v.dist)
			}
		}
	})
	return nbr, dist
}

// ringCells calls visit for every cell at Chebyshev distance exactly ring
// from centre, within the grid.
func ringCells(centre [3]int, ring, dims, per int, visit func([3]int)) {
	var lo, hi [3]int
	for c := 0; c < 3; c++ {
		lo[c], hi[c] = centre[c], centre[c]
		if c < dims {
			lo[c], hi[c] = centre[c]-ring, centre[c]+ring
		}
	}
	for z := max(lo[2], 0); z <= min(hi[2], per-1); z++ {
		for yy := max(lo[1], 0); yy <= min(hi[1], per-1); yy++ {
			for x := max(lo[0], 0); x <= min(hi[0], per-1); x++ {
				cell := [3]int{x, yy, z}
				onRing := false
				for c := 0; c < dims; c++ {
					if cell[c] == lo[c] || cell[c] == hi[c] {
						onRing = true
					}
				}
				if onRing || ring == 0 {
					visit(cell)
				}
			}
		}
	}
}

// tieHeap keeps the k best neighbours seen, the worst on top: the farther,
// or at equal distance the higher index, is worse.
type tieHeap []neighbour

func worse(a, b neighbour) bool { return a.dist > b.dist || a.dist == b.dist && a.point > b.point }

func (h *tieHeap) offerTie(v neighbour, k int) {
	if len(*h) < k {
		*h = append(*h, v)
		for i := len(*h) - 1; i > 0; { // sift up
			p := (i - 1) / 2
			if !worse((*h)[i], (*h)[p]) {
				break
			}
			(*h)[i], (*h)[p] = (*h)[p], (*h)[i]
			i = p
		}
		return
	}
	if !worse((*h)[0], v) {
		return
	}
	(*h)[0] = v
	h.down()
}

func (h *tieHeap) down() {
	s := *h
	for i := 0; ; {
		w, l, r := i, 2*i+1, 2*i+2
		if l < len(s) && worse(s[l], s[w]) {
			w = l
		}
		if r < len(s) && worse(s[r], s[w]) {
			w = r
		}
		if w == i {
			return
		}
		s[i], s[w] = s[w], s[i]
		i = w
	}
}

// popTie removes and returns the worst.
func (h *tieHeap) popTie() neighbour {
	s := *h
	v := s[0]
	s[0] = s[len(s)-1]
	*h = s[:len(s)-1]
	h.down()
	return v
}
