package tsne

import "slices"

// The optimiser visits every edge of P each iteration and reads both ends'
// coordinates. In the input's order a point's neighbours are anywhere in
// memory (at 70 000 points the coordinates, 1.1 MB, spill out of the
// cache); numbered in breadth-first order of P's graph, neighbours get
// nearby numbers, so the reads of one row stay within a few cache-resident
// stretches. The renumbering is internal: Run maps the result back.

// bfsOrder returns the points in breadth-first order of P's graph, each
// component started from its lowest-numbered point and neighbours taken
// in column order: order[k] is the input index of the k-th point.
func bfsOrder(p affinities, n int) []int32 {
	order := make([]int32, 0, n)
	seen := make([]bool, n)
	for root := 0; root < n; root++ {
		if seen[root] {
			continue
		}
		seen[root] = true
		head := len(order)
		order = append(order, int32(root))
		for ; head < len(order); head++ {
			i := order[head]
			for _, j := range p.col[p.rowStart[i]:p.rowStart[i+1]] {
				if !seen[j] {
					seen[j] = true
					order = append(order, j)
				}
			}
		}
	}
	return order
}

// renumber returns P with point order[k] as point k, each row's columns
// ascending.
func (p affinities) renumber(order []int32) affinities {
	n := len(order)
	newIndex := make([]int32, n)
	for k, i := range order {
		newIndex[i] = int32(k)
	}
	q := affinities{rowStart: make([]int, n+1), col: make([]int32, len(p.col)), val: make([]float64, len(p.val))}
	type entry struct {
		col int32
		val float64
	}
	var row []entry
	for k, i := range order {
		lo, hi := p.rowStart[i], p.rowStart[i+1]
		row = row[:0]
		for a := lo; a < hi; a++ {
			row = append(row, entry{newIndex[p.col[a]], p.val[a]})
		}
		slices.SortFunc(row, func(a, b entry) int { return int(a.col) - int(b.col) })
		start := q.rowStart[k]
		for a, e := range row {
			q.col[start+a], q.val[start+a] = e.col, e.val
		}
		q.rowStart[k+1] = start + len(row)
	}
	return q
}
