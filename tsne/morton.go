package tsne

import (
	"math"
	"slices"
)

// mortonOrder fills order with the point indices sorted along a Z-order
// (Morton) curve through the embedding. Computing forces in this order
// makes consecutive points walk nearly the same tree cells, which then stay
// in cache: it speeds up the repulsion loop without changing any result.
func mortonOrder(y []float64, n, d int, order []int32, keys []uint64) {
	lo, hi := bounds(y, n, d)
	bits := uint(21) // 3 × 21 = 63 bits
	if d == 2 {
		bits = 31
	}
	scale := float64(uint64(1)<<bits - 1)
	for i := 0; i < n; i++ {
		var key uint64
		for c := 0; c < d; c++ {
			v := 0.0
			if hi[c] > lo[c] {
				v = (y[i*d+c] - lo[c]) / (hi[c] - lo[c])
			}
			q := uint64(v * scale)
			for b := uint(0); b < bits; b++ {
				key |= (q >> b & 1) << (b*uint(d) + uint(c))
			}
		}
		keys[i] = key
		order[i] = int32(i)
	}
	slices.SortFunc(order[:n], func(a, b int32) int {
		switch ka, kb := keys[a], keys[b]; {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return int(a - b)
	})
}

// bounds returns the smallest box holding the n points of y (d ≤ 3).
func bounds(y []float64, n, d int) (lo, hi [3]float64) {
	for c := 0; c < d; c++ {
		lo[c], hi[c] = math.Inf(1), math.Inf(-1)
	}
	for i := 0; i < n; i++ {
		for c := 0; c < d; c++ {
			lo[c] = math.Min(lo[c], y[i*d+c])
			hi[c] = math.Max(hi[c], y[i*d+c])
		}
	}
	return lo, hi
}
