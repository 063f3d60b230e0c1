package tsne

import (
	"container/heap"
	"math"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// knn returns each point's k nearest neighbours (itself excluded) and their
// distances, nearest first. Low-dimensional inputs use a vantage-point
// tree; above vpTreeMaxDims, where such trees degrade towards visiting
// every point anyway, distances are computed in blocks as
// |a|² + |b|² - 2a·b with a matrix product, which gonum's BLAS does far
// faster than one distance at a time.
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

func knnBlocked(x []float64, n, d, k int, workers int) ([]int, []float64) {
	norms := make([]float64, n)
	for i := 0; i < n; i++ {
		norms[i] = sqNorm(x[i*d : (i+1)*d])
	}
	nbr, dist := make([]int, n*k), make([]float64, n*k)
	all := blas64.General{Rows: n, Cols: d, Stride: d, Data: x}
	const block = 256
	parallelRange((n+block-1)/block, workers, func(lo, hi int) {
		prod := make([]float64, block*n)
		h := make(maxHeap, 0, k)
		for b := lo; b < hi; b++ {
			r0, r1 := b*block, min((b+1)*block, n)
			rows := blas64.General{Rows: r1 - r0, Cols: d, Stride: d, Data: x[r0*d : r1*d]}
			out := blas64.General{Rows: r1 - r0, Cols: n, Stride: n, Data: prod[:(r1-r0)*n]}
			blas64.Gemm(blas.NoTrans, blas.Trans, 1, rows, all, 0, out)
			for i := r0; i < r1; i++ {
				row := prod[(i-r0)*n : (i-r0+1)*n]
				h = h[:0]
				for j, dot := range row {
					if j == i {
						continue
					}
					d2 := math.Max(norms[i]+norms[j]-2*dot, 0)
					h.offer(neighbour{j, d2}, k)
				}
				for m := len(h) - 1; m >= 0; m-- {
					v := heap.Pop(&h).(neighbour)
					nbr[i*k+m], dist[i*k+m] = v.point, math.Sqrt(v.dist)
				}
			}
		}
	})
	return nbr, dist
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
