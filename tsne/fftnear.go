package tsne

// The FFT method's exact near field.
//
// The interpolation's error is largest between points less than a box
// apart, where the kernels change fastest across a box. So when the
// layout uses it (fftParams.withNear, and the pricing in layout), pairs of points in the same or
// adjacent boxes (3 boxes per dimension around each point's own) are
// summed exactly, and the grid's own sums for exactly those pairs are
// taken out of its potentials, node by node. That is exact algebra, not a
// cut-off: the grid's sum over all nodes minus its sum over the nodes of
// neighbouring boxes is its sum over the nodes of boxes at least a box
// apart, because every node belongs to one box and each point's charge
// sits on its own box's nodes only. What the grid still carries is
// smooth at the box's scale, so boxes may be wider, and the grid (whose
// transforms cost the most) smaller, for the same accuracy.
//
// Sums run point by point (or box by box) in an order fixed by the data,
// so the result does not depend on the number of workers.
type nearField struct {
	boxOf     []int32   // per point: its box, row-major (y, then x)
	cellStart []int32   // per box: where its points start in cellPts; one more entry than boxes
	cellPts   []int32   // the points, box by box, in index order within a box
	occupied  []int32   // the boxes that hold points, in order
	sortedY   []float64 // the points' coordinates in cellPts' order
	counts    []int32   // countPairs' points per box
	probe     []int32   // countPairs' occupied boxes

	// The kernels 1/(1+r²), r_x/(1+r²)², r_y/(1+r²)² at the node offsets
	// (dx, dy), |dx|, |dy| < 2p, that neighbouring boxes' nodes can have;
	// index (dy+2p-1)·(4p-1) + dx+2p-1 (dy = 0 in 1-D).
	tz, tx, ty   []float64
	tabH         float64 // the box width the tables are for
	boxZ         []float64
	ptZ          []float64
	nbx, rowsPer int // boxes per dimension; node rows per box (p in 2-D, 1 in 1-D)
}

// box is the box coordinate of v in dimension c, the same for bin and
// spread (inv is 1/h).
func (g *fftGrid) box(v float64, c int, inv float64) int { return boxIndex(v, g.lo[c], inv, g.nb) }

// boxIndex is the box of v among nb boxes of width 1/inv from lo; the
// last box takes the upper edge.
func boxIndex(v, lo, inv float64, nb int) int { return min(int((v-lo)*inv), nb-1) }

// bin sorts the points into the layout's boxes.
func (nf *nearField) bin(g *fftGrid, y []float64, n int) {
	d, nb := g.d, g.nb
	boxes := nb
	if d == 2 {
		boxes *= nb
	}
	nf.nbx = nb
	nf.boxOf = resizeI(nf.boxOf, n)
	nf.cellPts = resizeI(nf.cellPts, n)
	nf.cellStart = resizeI(nf.cellStart, boxes+1)
	clear(nf.cellStart)
	inv := 1 / g.h
	for i := 0; i < n; i++ {
		b := g.box(y[i*d], 0, inv)
		if d == 2 {
			b += g.box(y[i*d+1], 1, inv) * nb
		}
		nf.boxOf[i] = int32(b)
		nf.cellStart[b+1]++
	}
	nf.occupied = nf.occupied[:0]
	for b := 0; b < boxes; b++ {
		if nf.cellStart[b+1] > 0 {
			nf.occupied = append(nf.occupied, int32(b))
		}
		nf.cellStart[b+1] += nf.cellStart[b]
	}
	// Counting sort, stable: fill each box from its start, then shift the
	// advanced starts back by one box.
	for i := 0; i < n; i++ {
		b := nf.boxOf[i]
		nf.cellPts[nf.cellStart[b]] = int32(i)
		nf.cellStart[b]++
	}
	copy(nf.cellStart[1:], nf.cellStart[:boxes])
	nf.cellStart[0] = 0
	nf.sortedY = resize(nf.sortedY, n*d)
	for k, i := range nf.cellPts {
		copy(nf.sortedY[k*d:(k+1)*d], y[int(i)*d:(int(i)+1)*d])
	}
}

// countPairs returns the number of near pairs (ordered, self-pairs
// included) and of occupied boxes of the layout with boxes of width h, nb
// per dimension, from lo.
func (nf *nearField) countPairs(d int, y []float64, n int, lo [3]float64, h float64, nb int) (float64, int) {
	boxes := nb
	if d == 2 {
		boxes *= nb
	}
	nf.counts = resizeI(nf.counts, boxes)
	clear(nf.counts)
	nf.probe = nf.probe[:0]
	inv := 1 / h
	for i := 0; i < n; i++ {
		b := boxIndex(y[i*d], lo[0], inv, nb)
		if d == 2 {
			b += boxIndex(y[i*d+1], lo[1], inv, nb) * nb
		}
		if nf.counts[b] == 0 {
			nf.probe = append(nf.probe, int32(b))
		}
		nf.counts[b]++
	}
	var pairs float64
	for _, b32 := range nf.probe {
		b := int(b32)
		bx, by := b%nb, b/nb
		rowLo, rowHi := max(by-1, 0), min(by+1, nb-1)
		if d == 1 {
			rowLo, rowHi = 0, 0
		}
		var around int32
		for row := rowLo; row <= rowHi; row++ {
			for x := max(bx-1, 0); x <= min(bx+1, nb-1); x++ {
				around += nf.counts[row*nb+x]
			}
		}
		pairs += float64(nf.counts[b]) * float64(around)
	}
	return pairs, len(nf.probe)
}

func resizeI(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// tables evaluates the kernels at the node offsets of neighbouring boxes.
func (nf *nearField) tables(g *fftGrid) {
	nf.rowsPer = 1
	if g.d == 2 {
		nf.rowsPer = g.p
	}
	if nf.tabH == g.h && len(nf.tz) > 0 {
		return
	}
	p := g.p
	side := 4*p - 1
	rows := 1
	if g.d == 2 {
		rows = side
	}
	nf.tz, nf.tx, nf.ty = resize(nf.tz, rows*side), resize(nf.tx, rows*side), resize(nf.ty, rows*side)
	delta := g.h / float64(p)
	for r := 0; r < rows; r++ {
		ry := 0.0
		if g.d == 2 {
			ry = delta * float64(r-(2*p-1))
		}
		for c := 0; c < side; c++ {
			rx := delta * float64(c-(2*p-1))
			q := 1 / (1 + rx*rx + ry*ry)
			nf.tz[r*side+c], nf.tx[r*side+c], nf.ty[r*side+c] = q, rx*q*q, ry*q*q
		}
	}
	nf.tabH = g.h
}

// subtractGrid takes the grid's sums over neighbouring boxes' nodes out of
// the force potentials (if forces) and returns their part of the grid's Z,
// Σ over occupied boxes' nodes a of W(a)·Σ_near K(a-b)·W(b).
func (nf *nearField) subtractGrid(g *fftGrid, workers int, forces bool) float64 {
	p, side, nb, m := g.p, 4*g.p-1, nf.nbx, g.m
	rowsPer := nf.rowsPer
	nf.boxZ = resize(nf.boxZ, len(nf.occupied))
	parallelBalanced(len(nf.occupied), workers, 256, func(lo, hi int) {
		for at := lo; at < hi; at++ {
			b := int(nf.occupied[at])
			bx, by := b%nb, b/nb
			rowLo, rowHi := max(by-1, 0), min(by+1, nb-1)
			if g.d == 1 {
				rowLo, rowHi = 0, 0
			}
			var zc float64
			for l := 0; l < rowsPer; l++ {
				for k := 0; k < p; k++ {
					a := (by*p+l)*m + bx*p + k
					var sz, sx, sy float64
					for ny := rowLo; ny <= rowHi; ny++ {
						for nx := max(bx-1, 0); nx <= min(bx+1, nb-1); nx++ {
							nbr := ny*nb + nx
							if nf.cellStart[nbr+1] == nf.cellStart[nbr] {
								continue // no charges on its nodes
							}
							for l2 := 0; l2 < rowsPer; l2++ {
								row := 0
								if g.d == 2 {
									row = ((by-ny)*p + l - l2 + 2*p - 1) * side
								}
								t0 := row + (bx-nx)*p + k + 2*p - 1 // offset t0 - k2 for node k2
								src := g.w[(ny*p+l2)*m+nx*p : (ny*p+l2)*m+nx*p+p]
								for k2, wb := range src {
									t := t0 - k2
									sz += nf.tz[t] * wb
									sx += nf.tx[t] * wb
									sy += nf.ty[t] * wb
								}
							}
						}
					}
					zc += g.w[a] * sz
					if forces {
						g.phiX[a] -= sx
						if g.d == 2 {
							g.phiY[a] -= sy
						}
					}
				}
			}
			nf.boxZ[at] = zc
		}
	})
	var z float64
	for _, v := range nf.boxZ {
		z += v
	}
	return z
}

// exact adds to rep (if not nil) every point's exact repulsion from the
// points in its own and adjacent boxes, and returns their Z, Σ_{i≠j} over
// those pairs of 1/(1+|y_i-y_j|²).
//
// Each point sums its own pairs (each pair is thus computed twice:
// computing it once for both points, with scattered writes, measured
// 10-30% slower at 70 000 points), in box order, so that a point's neighbours are read as runs
// of sortedY: the three boxes of a row of neighbours are consecutive.
// Each point's sums are its own, in a fixed order, for any number of
// workers.
func (nf *nearField) exact(g *fftGrid, y []float64, n, workers int, rep []float64) float64 {
	d, nb := g.d, nf.nbx
	nf.ptZ = resize(nf.ptZ, n)
	ys := nf.sortedY
	rowLo, rowHi := -1, 1
	if d == 1 {
		rowLo, rowHi = 0, 0
	}
	parallelBalanced(n, workers, 1024, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			i := int(nf.cellPts[k])
			b := int(nf.boxOf[i])
			bx, by := b%nb, b/nb
			xlo, xhi := max(bx-1, 0), min(bx+1, nb-1)
			var z, fx, fy float64
			for row := max(by+rowLo, 0); row <= min(by+rowHi, nb-1); row++ {
				lo, hi := int(nf.cellStart[row*nb+xlo]), int(nf.cellStart[row*nb+xhi+1])
				if d == 1 {
					for t := lo; t < hi; t++ {
						dx := ys[k] - ys[t]
						q := 1 / (1 + dx*dx)
						z += q
						fx += q * q * dx
					}
					continue
				}
				yx, yy := ys[2*k], ys[2*k+1]
				for t := lo; t < hi; t++ {
					dx, dy := yx-ys[2*t], yy-ys[2*t+1]
					q := 1 / (1 + dx*dx + dy*dy)
					z += q
					q *= q
					fx += q * dx
					fy += q * dy
				}
			}
			nf.ptZ[i] = z - 1 // the point itself: q = 1, no force
			if rep != nil {
				rep[i*d] += fx
				if d == 2 {
					rep[i*d+1] += fy
				}
			}
		}
	})
	var z float64
	for _, v := range nf.ptZ {
		z += v
	}
	return z
}
