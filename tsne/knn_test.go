package tsne

import (
	"cmp"
	"math"
	"slices"
	"testing"
)

// knnBrute is the reference: every distance in float64 (sqDist), sorted by
// distance, then by index.
func knnBrute(x []float64, n, d, k int) ([]int, []float64) {
	nbr, dist := make([]int, n*k), make([]float64, n*k)
	type cand struct {
		d2 float64
		j  int
	}
	all := make([]cand, 0, n)
	for i := 0; i < n; i++ {
		all = all[:0]
		for j := 0; j < n; j++ {
			if j != i {
				all = append(all, cand{sqDist(x[i*d:(i+1)*d], x[j*d:(j+1)*d]), j})
			}
		}
		slices.SortFunc(all, func(a, b cand) int {
			if c := cmp.Compare(a.d2, b.d2); c != 0 {
				return c
			}
			return cmp.Compare(a.j, b.j)
		})
		for m := 0; m < k; m++ {
			nbr[i*k+m], dist[i*k+m] = all[m].j, math.Sqrt(all[m].d2)
		}
	}
	return nbr, dist
}

// The blocked search returns exactly the brute-force neighbours (indices
// and float64 distances, bit for bit, ties to the lower index) on awkward
// sizes (one point; fewer points than a row block; across row blocks and
// column tiles), on inputs with many exact duplicates, with all points
// identical (every distance ties), and far from the origin (where
// |a|²+|b|²-2a·b in float32 loses most of its digits, so the error bound
// must let enough candidates through), for any number of workers.
func TestKNNBlockedIsExact(t *testing.T) {
	type input struct {
		name    string
		n, d, k int
		x       []float64
	}
	var cases []input
	for _, n := range []int{1, 2, 7, 33, 257} {
		x, _ := clusters(n, 50, 3, uint64(n))
		cases = append(cases, input{"clusters", n, 50, min(n-1, 90), x})
	}
	if !testing.Short() {
		x, _ := clusters(2100, 20, 5, 3) // 22 row blocks, 2 column tiles
		cases = append(cases, input{"clusters", 2100, 20, 90, x})
	}
	{
		const n, d = 300, 12
		x, _ := clusters(n, d, 4, 7)
		for i := 0; i < n; i += 3 { // every third point repeats a point from the first 20
			copy(x[i*d:(i+1)*d], x[(i%20)*d:(i%20+1)*d])
		}
		cases = append(cases, input{"duplicates", n, d, 30, x})
	}
	cases = append(cases, input{"identical", 50, 7, 20, make([]float64, 50*7)})
	{
		const n, d = 257, 50
		x, _ := clusters(n, d, 3, 9)
		for i := range x {
			x[i] = 100 + 1e-3*x[i]
		}
		cases = append(cases, input{"far from the origin", n, d, 40, x})
	}
	for _, c := range cases {
		wantN, wantD := knnBrute(c.x, c.n, c.d, c.k)
		for _, workers := range []int{1, 2, 5} {
			gotN, gotD := knnBlocked(c.x, c.n, c.d, c.k, workers)
			for i := range wantN {
				if gotN[i] != wantN[i] || gotD[i] != wantD[i] {
					t.Fatalf("%s, n=%d d=%d k=%d, %d workers: neighbour %d of point %d is %d at %v, brute force %d at %v",
						c.name, c.n, c.d, c.k, workers, i%c.k, i/c.k, gotN[i], gotD[i], wantN[i], wantD[i])
				}
			}
		}
	}
}

// nthSmallest against sorting, on sizes and values with many ties.
func TestNthSmallest(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 33, 257} {
		for _, levels := range []int{1, 3, 1000} {
			s := make([]float32, n)
			for i := range s {
				s[i] = float32((i*7919 + 13) % levels)
			}
			sorted := slices.Clone(s)
			slices.Sort(sorted)
			for q := 0; q < n; q++ {
				if got := nthSmallest(slices.Clone(s), q); got != sorted[q] {
					t.Fatalf("n=%d levels=%d: element %d is %v, want %v", n, levels, q, got, sorted[q])
				}
			}
		}
	}
}

// The sparse affinities against a dense reference built from the
// brute-force neighbours: P_ij = (P_j|i + P_i|j) / 2n on the union of both
// directions' neighbour lists, each row's columns sorted and distinct, the
// whole summing to 1; in low dimensions (vantage-point tree) and high
// (blocked search).
func TestSparseAffinitiesMatchDense(t *testing.T) {
	for _, d := range []int{5, 50} {
		const n, perp = 257, 10.0
		x, _ := clusters(n, d, 3, uint64(d))
		k := int(3 * perp)
		nbr, dist := knnBrute(x, n, d, k)
		dense := make([]float64, n*n)
		d2, row := make([]float64, k), make([]float64, k)
		for i := 0; i < n; i++ {
			for m := 0; m < k; m++ {
				d2[m] = dist[i*k+m] * dist[i*k+m]
			}
			calibrate(d2, perp, row)
			for m := 0; m < k; m++ {
				j := nbr[i*k+m]
				dense[i*n+j] += row[m] / (2 * n)
				dense[j*n+i] += row[m] / (2 * n)
			}
		}
		p := sparseAffinities(x, n, d, perp, 1, 3)
		var sum float64
		for i := 0; i < n; i++ {
			nonzero := 0
			for j := 0; j < n; j++ {
				if dense[i*n+j] != 0 {
					nonzero++
				}
			}
			if got := p.rowStart[i+1] - p.rowStart[i]; got != nonzero {
				t.Fatalf("%d-D row %d: %d entries, want %d", d, i, got, nonzero)
			}
			for a := p.rowStart[i]; a < p.rowStart[i+1]; a++ {
				j := int(p.col[a])
				if a > p.rowStart[i] && j <= int(p.col[a-1]) {
					t.Fatalf("%d-D row %d: column %d after %d", d, i, j, p.col[a-1])
				}
				if math.Abs(p.val[a]-dense[i*n+j]) > 1e-15 {
					t.Fatalf("%d-D P[%d][%d] = %v, want %v", d, i, j, p.val[a], dense[i*n+j])
				}
				sum += p.val[a]
			}
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("%d-D: P sums to %v", d, sum)
		}
	}
}
