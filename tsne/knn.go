package tsne

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/diynn/diynn/backend/cpu/gemm"
	"gonum.org/v1/gonum/blas"
)

// knn returns each point's k nearest neighbours (itself excluded) and their
// distances, nearest first. Low-dimensional inputs use a vantage-point
// tree; above vpTreeMaxDims, where such trees degrade towards visiting
// every point anyway, all distances are computed, in blocks, as
// |a|² + |b|² - 2a·b with a matrix product (knnBlocked), which a tuned
// GEMM does some hundred times faster than one distance at a time. Both
// are exact.
func knn(x []float64, n, d, k int, seed uint64, workers int) ([]int, []float64) {
	if d <= vpTreeMaxDims {
		return knnVPTree(x, n, d, k, seed, workers)
	}
	return knnBlocked(x, n, d, k, workers)
}

const vpTreeMaxDims = 10

func knnVPTree(x []float64, n, d, k int, seed uint64, workers int) ([]int, []float64) {
	vp := newVPTree(x, n, d, newRand(seed))
	nbr, dist := make([]int, n*k), make([]float64, n*k)
	parallelRange(n, workers, func(lo, hi int) {
		s := vp.searcher(k + 1)
		for i := lo; i < hi; i++ {
			idx, ds := s.search(x[i*d : (i+1)*d])
			m := 0
			for j, q := range idx {
				if q == i || m == k {
					continue
				}
				nbr[i*k+m], dist[i*k+m] = q, ds[j]
				m++
			}
		}
	})
	return nbr, dist
}

// The blocked search is exact, and fast because almost all of its work is
// one large matrix product, done in float32 by diynn's SGEMM (package
// backend/cpu/gemm, AVX2 + FMA where the CPU has them):
//
//   - The rows are taken knnRows at a time and the columns knnCols at a
//     time; for each such tile, C = [X_rows, 1] · [-2X_cols, ‖X_cols‖²]ᵀ
//     in float32: the squared distances ‖a‖² + ‖b‖² - 2a·b less ‖a‖², which
//     is the same for a whole row. A tile of C (768 KiB) stays in the L2
//     cache while it is scanned.
//   - Each row keeps the candidates whose approximate squared distance is
//     at most its threshold: the (k+1)-th smallest approximate value seen
//     so far (the point itself counts among them) plus twice errBound, a
//     bound on the float32 error of any one value. Every true neighbour
//     passes it: its approximate value is at most its exact one plus the
//     error, the exact one at most the k-th smallest exact distance, and
//     that at most the (k+1)-th smallest approximate value plus the error.
//     When the buffer fills, it is cut back to the candidates under the
//     tightened threshold (a partial selection, no heap).
//   - The surviving candidates, a few more than k, get their exact
//     squared distances in float64, as sqDist computes them, and are
//     sorted by distance, then by index: ties go to the lower index.
//
// Each row's answer is therefore the exact one, whatever the blocking, the
// order of the points and tiles, and the order in which the workers take
// the blocks (which is dynamic: a worker slowed by other jobs on the
// machine takes fewer of them).
const (
	// A multiple of the SGEMM's 6-row micro-tile, and tall: the SGEMM
	// packs each tile's columns once per block of rows (at 96 rows that
	// packing took a quarter of the product's time at 70 000 points).
	knnRows = 384
	knnCols = 512 // 384 × 512 float32 products: 768 KiB
)

// errBound bounds |approx - exact| for the float32 squared distance between
// points of squared norms ni and nj, in d dimensions, as knnBlocked forms
// it (|x_j|² - 2x_i·x_j as one product of d+1 terms, compared with a
// threshold less |x_i|²): rounding the inputs and |x_j|² to float32 (about
// 5u·(ni+nj)), the product (the standard bound on a sum of d+1 terms, (d+1)·u
// times the sum of their magnitudes, at most 2(ni+nj)) and the subtraction
// of |x_i|² (u·(ni+nj)), where u = 2⁻²⁴; doubled, for margin. The caller
// passes the largest squared norm as nj, so that one bound serves a row.
func errBound(d int, ni, nj float64) float64 {
	return 2 * float64(2*(d+1)+6) * 0x1p-24 * (ni + nj)
}

// knnCand is a candidate neighbour: its approximate squared distance, then
// (after the exact pass) its exact one.
type knnCand struct {
	approx float32
	j      int32
	exact  float64
}

func knnBlocked(x []float64, n, d, k int, workers int) ([]int, []float64) {
	// The product of the rows [x_i, 1] and [-2x_j, |x_j|²] is
	// |x_j|² - 2x_i·x_j: the squared distance less |x_i|², which does not
	// change the order of row i, so the scan compares each product with
	// the threshold less |x_i|² and does nothing else.
	//
	// The points are taken in the order of their coordinate of largest
	// variance (the first principal component, for PCA's output), and
	// each block of rows scans the column tiles nearest it in that order
	// first: a row's threshold is then tight after one tile, and few of
	// the later products pass it (fewer candidates, fewer prunes, a branch
	// that is rarely taken). Positions in that order are used throughout;
	// pos[r] is the point at position r.
	da := d + 1
	pos := spreadOrder(x, n, d)
	xa, xb := make([]float32, n*da), make([]float32, n*da)
	norms64 := make([]float64, n)
	maxNorm := 0.0
	for r, p := range pos {
		i := int(p)
		s := sqNorm(x[i*d : (i+1)*d])
		norms64[r] = s
		maxNorm = math.Max(maxNorm, s)
		for c, v := range x[i*d : (i+1)*d] {
			xa[r*da+c], xb[r*da+c] = float32(v), -2*float32(v)
		}
		xa[r*da+d], xb[r*da+d] = 1, float32(s)
	}
	tiles := (n + knnCols - 1) / knnCols
	nbr, dist := make([]int, n*k), make([]float64, n*k)
	keep := min(k+1, n)   // the point itself and its k neighbours
	bufCap := 4*keep + 64 // a row's candidate buffer
	blocks := (n + knnRows - 1) / knnRows
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, blocks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ws gemm.Workspace
			prod := make([]float32, knnRows*min(knnCols, n))
			bufs := make([][]knnCand, knnRows)
			for r := range bufs {
				bufs[r] = make([]knnCand, 0, bufCap)
			}
			thr := make([]float32, knnRows)
			slack := make([]float32, knnRows)
			scratch := make([]float32, 0, bufCap)
			for {
				b := int(next.Add(1) - 1)
				if b >= blocks {
					return
				}
				r0, r1 := b*knnRows, min((b+1)*knnRows, n)
				rows := r1 - r0
				for r := 0; r < rows; r++ {
					bufs[r] = bufs[r][:0]
					thr[r] = float32(math.Inf(1))
					slack[r] = float32(2 * errBound(d, norms64[r0+r], maxNorm))
				}
				// The tiles outward from the block's own: t0, t0+1, t0-1, ...
				t0 := min((r0+rows/2)/knnCols, tiles-1)
				for step := 0; step < 2*tiles; step++ {
					tile := t0 + (step+1)/2
					if step%2 == 0 {
						tile = t0 - step/2
					}
					if tile < 0 || tile >= tiles {
						continue
					}
					c0 := tile * knnCols
					cols := min(knnCols, n-c0)
					ws.Sgemm(blas.NoTrans, blas.Trans, rows, cols, da, 1, xa[r0*da:r1*da], da, xb[c0*da:(c0+cols)*da], da, 0, prod, cols)
					for r := 0; r < rows; r++ {
						// Here approx is the squared distance less |x_i|²,
						// and so is the threshold; most products fail it
						// (firstAtMost skips them eight at a time).
						t := thr[r]
						buf := bufs[r]
						row := prod[r*cols : (r+1)*cols]
						for jj := 0; ; jj++ {
							jj += firstAtMost(row[jj:], t)
							if jj >= len(row) {
								break
							}
							buf = append(buf, knnCand{approx: row[jj], j: int32(c0 + jj)})
							if len(buf) == cap(buf) {
								buf, t = prune(buf, keep, slack[r], &scratch)
							}
						}
						bufs[r], thr[r] = buf, t
					}
				}
				for r := 0; r < rows; r++ {
					i := int(pos[r0+r])
					buf, _ := prune(bufs[r], keep, slack[r], &scratch)
					xi := x[i*d : (i+1)*d]
					m := 0
					for _, c := range buf {
						if j := pos[c.j]; j != int32(i) {
							c.j = j // from here on the point's index, not its position
							c.exact = sqDist(xi, x[int(j)*d:(int(j)+1)*d])
							buf[m] = c
							m++
						}
					}
					buf = buf[:m]
					slices.SortFunc(buf, func(a, b knnCand) int {
						if c := cmp.Compare(a.exact, b.exact); c != 0 {
							return c
						}
						return cmp.Compare(a.j, b.j)
					})
					for q := 0; q < k; q++ {
						nbr[i*k+q], dist[i*k+q] = int(buf[q].j), math.Sqrt(buf[q].exact)
					}
					bufs[r] = buf[:0]
				}
			}
		}()
	}
	wg.Wait()
	return nbr, dist
}

// spreadOrder returns the points sorted by their coordinate of largest
// variance, ties by index.
func spreadOrder(x []float64, n, d int) []int32 {
	best, bestVar := 0, -1.0
	for c := 0; c < d; c++ {
		var mean, m2 float64
		for i := 0; i < n; i++ { // Welford's update: one pass, no cancellation
			v := x[i*d+c]
			delta := v - mean
			mean += delta / float64(i+1)
			m2 += delta * (v - mean)
		}
		if m2 > bestVar {
			best, bestVar = c, m2
		}
	}
	pos := make([]int32, n)
	for i := range pos {
		pos[i] = int32(i)
	}
	slices.SortStableFunc(pos, func(a, b int32) int { return cmp.Compare(x[int(a)*d+best], x[int(b)*d+best]) })
	return pos
}

// prune cuts buf back to the candidates within slack of its keep-th
// smallest approximate distance, and returns them with that threshold
// (+Inf while buf holds fewer than keep). If ties leave the buffer full, it
// grows.
func prune(buf []knnCand, keep int, slack float32, scratch *[]float32) ([]knnCand, float32) {
	if len(buf) < keep {
		return buf, float32(math.Inf(1))
	}
	s := (*scratch)[:0]
	for _, c := range buf {
		s = append(s, c.approx)
	}
	*scratch = s
	t := nthSmallest(s, keep-1) + slack
	m := 0
	for _, c := range buf {
		if c.approx <= t {
			buf[m] = c
			m++
		}
	}
	buf = buf[:m]
	if len(buf) == cap(buf) {
		buf = slices.Grow(buf, cap(buf))
	}
	return buf, t
}

// nthSmallest returns the value that would be at index q of s sorted
// (quickselect; s is reordered).
func nthSmallest(s []float32, q int) float32 {
	lo, hi := 0, len(s)-1
	for lo < hi {
		// Median of three as the pivot, then Hoare's partition.
		mid := lo + (hi-lo)/2
		a, b, c := s[lo], s[mid], s[hi]
		pivot := max(min(a, b), min(max(a, b), c))
		i, j := lo, hi
		for i <= j {
			for s[i] < pivot {
				i++
			}
			for s[j] > pivot {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		switch {
		case q <= j:
			hi = j
		case q >= i:
			lo = i
		default:
			return s[q]
		}
	}
	return s[q]
}

func sqNorm(a []float64) float64 {
	var s float64
	for _, v := range a {
		s += v * v
	}
	return s
}

// parallelRange runs fn over [0, n) in one contiguous chunk per worker.
func parallelRange(n, workers int, fn func(lo, hi int)) {
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
