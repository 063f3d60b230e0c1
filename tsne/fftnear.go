package tsne

// The FFT method's exact near field.
//
// The interpolation's error is largest between points less than a box
// apart, where the kernels change fastest across a box. So when the
// layout uses it (fftParams.withNear, and the pricing in layout), pairs
// of points in the same or adjacent boxes (3 boxes per dimension around
// each point's own) are summed exactly, and the grid's own sums for exactly those pairs are
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
	symF      []float64 // exactSym2's forces, in cellPts' order
	counts    []int32   // countPairs' points per box
	probe     []int32   // countPairs' occupied boxes

	// The kernels 1/(1+r²), r_x/(1+r²)², r_y/(1+r²)² between a box's
	// nodes and a neighbour's: per relative position o (the neighbour ox =
	// o%3-1 boxes right and oy = o/3-1 above; o < 3 in 1-D), per neighbour
	// node src, a row of stride values: the Z kernel at each of the box's
	// nodes, then x, then y, padded to a multiple of 4.
	mats            []float64
	stride, offsets int
	tabH            float64 // the box width the tables are for
	boxZ            []float64
	ptZ             []float64
	nbx, rowsPer    int // boxes per dimension; node rows per box (p in 2-D, 1 in 1-D)
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

// tables evaluates the kernels between the nodes of a box and those of
// each neighbouring box, as one matrix per relative position (mats).
func (nf *nearField) tables(g *fftGrid) {
	p := g.p
	nf.rowsPer, nf.offsets = 1, 3
	if g.d == 2 {
		nf.rowsPer, nf.offsets = p, 9
	}
	if nf.tabH == g.h && len(nf.mats) > 0 {
		return
	}
	nodes := nf.rowsPer * p // per box
	nf.stride = (3*nodes + 3) &^ 3
	nf.mats = resize(nf.mats, nf.offsets*nodes*nf.stride)
	clear(nf.mats)
	delta := g.h / float64(p)
	for o := 0; o < nf.offsets; o++ {
		// The neighbour is ox boxes right of the box and oy boxes above it.
		ox, oy := o%3-1, o/3-1
		if g.d == 1 {
			oy = 0
		}
		for src := 0; src < nodes; src++ {
			l2, k2 := src/p, src%p
			row := nf.mats[(o*nodes+src)*nf.stride:][:nf.stride]
			for dst := 0; dst < nodes; dst++ {
				l, k := dst/p, dst%p
				rx := delta * float64(k-k2-ox*p)
				ry := delta * float64(l-l2-oy*p)
				q := 1 / (1 + rx*rx + ry*ry)
				row[dst], row[nodes+dst], row[2*nodes+dst] = q, rx*q*q, ry*q*q
			}
		}
	}
	nf.tabH = g.h
}

// subtractGrid takes the grid's sums over neighbouring boxes' nodes out of
// the force potentials (if forces) and returns their part of the grid's Z,
// Σ over occupied boxes' nodes a of W(a)·Σ_near K(a-b)·W(b).
//
// For each occupied box, the three kernels' sums at its nodes are one
// vector (acc: Z, then x, then y, for each node), the sum over the
// neighbouring boxes of their matrix (tables) times their nodes' charges.
func (nf *nearField) subtractGrid(g *fftGrid, workers int, forces bool) float64 {
	p, nb, m := g.p, nf.nbx, g.m
	rowsPer, nodes, stride := nf.rowsPer, nf.rowsPer*g.p, nf.stride
	nf.boxZ = resize(nf.boxZ, len(nf.occupied))
	parallelBalanced(len(nf.occupied), workers, 256, func(lo, hi int) {
		acc, src := make([]float64, stride), make([]float64, nodes)
		for at := lo; at < hi; at++ {
			b := int(nf.occupied[at])
			bx, by := b%nb, b/nb
			clear(acc)
			for o := 0; o < nf.offsets; o++ {
				nx, ny := bx+o%3-1, by+o/3-1
				if g.d == 1 {
					ny = 0
				}
				nbr := ny*nb + nx
				if nx < 0 || nx >= nb || ny < 0 || ny >= nb || nf.cellStart[nbr+1] == nf.cellStart[nbr] {
					continue // outside, or no charges on its nodes
				}
				for l2 := 0; l2 < rowsPer; l2++ {
					copy(src[l2*p:(l2+1)*p], g.w[(ny*p+l2)*m+nx*p:])
				}
				mat := nf.mats[o*nodes*stride : (o+1)*nodes*stride]
				matVec(mat, src, acc)
			}
			var zc float64
			for l := 0; l < rowsPer; l++ {
				for k := 0; k < p; k++ {
					a, dst := (by*p+l)*m+bx*p+k, l*p+k
					zc += g.w[a] * acc[dst]
					if forces {
						g.phiX[a] -= acc[nodes+dst]
						if g.d == 2 {
							g.phiY[a] -= acc[2*nodes+dst]
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
// In 1-D each point sums its own pairs (each pair is thus computed twice),
// the three boxes around it being one run of sortedY, in a fixed order for
// any number of workers; in 2-D exactSym2 computes each pair once.
func (nf *nearField) exact(g *fftGrid, y []float64, n, workers int, rep []float64) float64 {
	if g.d == 2 {
		return nf.exactSym2(n, workers, rep)
	}
	nb, ys := nf.nbx, nf.sortedY
	nf.ptZ = resize(nf.ptZ, n)
	parallelBalanced(n, workers, 1024, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			i := int(nf.cellPts[k])
			b := int(nf.boxOf[i])
			var z, fx float64
			for t := nf.cellStart[max(b-1, 0)]; t < nf.cellStart[min(b+1, nb-1)+1]; t++ {
				dx := ys[k] - ys[t]
				q := 1 / (1 + dx*dx)
				z += q
				fx += q * q * dx
			}
			nf.ptZ[i] = z - 1 // the point itself: q = 1, no force
			if rep != nil {
				rep[i] += fx
			}
		}
	})
	var z float64
	for _, v := range nf.ptZ {
		z += v
	}
	return z
}

// exactSym2 is exact in 2-D, each pair once: the point at position k of
// box (bx, by) pairs with the points after it in its box and the box to
// its right (one run: they follow it in sortedY) and with the three boxes
// above, bx-1 to bx+1 (the other run), and takes their forces on it while
// they take the opposite ones (symF, in sortedY's order). The points of a
// row of boxes therefore write only to that row and the one above: the
// even rows are done first, in parallel (no two write the same entries),
// then the odd ones, and each row's points in order by one goroutine, so
// every entry's sum has an order fixed by the data.
func (nf *nearField) exactSym2(n, workers int, rep []float64) float64 {
	nb, ys, start := nf.nbx, nf.sortedY, nf.cellStart
	nf.ptZ = resize(nf.ptZ, n)
	nf.symF = resize(nf.symF, 2*n)
	f := nf.symF
	clear(f)
	for phase := 0; phase < 2; phase++ {
		parallelBalanced((nb-phase+1)/2, workers, 1, func(lo, hi int) {
			var runs [4]int32
			for r := lo; r < hi; r++ {
				by := phase + 2*r
				for k := start[by*nb]; k < start[(by+1)*nb]; k++ {
					i := nf.cellPts[k]
					bx := int(nf.boxOf[i]) % nb
					runs[0], runs[1] = k+1, start[by*nb+min(bx+1, nb-1)+1]
					nr := 2
					if by+1 < nb {
						row := (by + 1) * nb
						runs[2], runs[3] = start[row+max(bx-1, 0)], start[row+min(bx+1, nb-1)+1]
						nr = 4
					}
					z, fx, fy := nearSym2(ys, f, runs[:nr], ys[2*k], ys[2*k+1])
					nf.ptZ[i] = 2 * z // the pairs, each way
					f[2*k] += fx
					f[2*k+1] += fy
				}
			}
		})
	}
	if rep != nil {
		parallelRange(n, workers, func(lo, hi int) {
			for k := lo; k < hi; k++ {
				i := int(nf.cellPts[k])
				rep[2*i] += f[2*k]
				rep[2*i+1] += f[2*k+1]
			}
		})
	}
	var z float64
	for _, v := range nf.ptZ {
		z += v
	}
	return z
}
