package tsne

import (
	"math"
	"math/bits"
)

// spTree is a space-partitioning tree over the embedding — a quadtree in
// 2-D, an octree in 3-D — whose cells know their point count and centre of
// mass, for the Barnes-Hut approximation of the repulsive forces.
type spTree struct {
	d     int
	y     []float64
	nodes []spNode
	hot   []spHot // what repulsion reads, packed for the cache
	// mask has bit k set for each non-empty child k of a cell: traversal
	// pushes those without first reading all 2^d children (in 3-D, eight
	// nodes over five cache lines, most of them empty deep in the tree).
	mask []uint8
}

// spHot is the part of a node that force computation reads.
type spHot struct {
	com    [3]float64
	width2 float64
	count  int32
	child  int32
}

type spNode struct {
	com    [3]float64 // centre of mass of its points (what traversal reads first)
	width2 float64    // the square of the cell's largest side
	count  int32
	point  int32 // a leaf's first point (-1 for an empty or inner cell)
	child  int32 // first of 2^d children, -1 for a leaf
	center [3]float64
	half   [3]float64
}

// maxDepth bounds subdivision: points closer than the cell width at this
// depth share a leaf (and are treated as one location).
const maxDepth = 40

func newSPTree(y []float64, n, d int) *spTree {
	return (&spTree{}).rebuild(y, n, d, nil)
}

// rebuild makes t the tree of y, reusing t's memory: the tree is rebuilt
// every iteration, and fresh allocations would keep the collector busy.
// Points are inserted in the given order (all of them in index order when
// nil); inserting in Morton order lays the cells out in memory roughly as
// they lie in space.
func (t *spTree) rebuild(y []float64, n, d int, order []int32) *spTree {
	t.d, t.y = d, y
	if cap(t.nodes) < 2*n {
		t.nodes = make([]spNode, 1, 2*n)
	}
	t.nodes = t.nodes[:1]
	lo, hi := bounds(y, n, d)
	root := spNode{point: -1, child: -1}
	for c := 0; c < d; c++ {
		root.center[c] = (lo[c] + hi[c]) / 2
		root.half[c] = math.Max((hi[c]-lo[c])/2, 1e-5) * (1 + 1e-5)
	}
	root.width2 = width2(root.half, d)
	t.nodes[0] = root
	if order != nil {
		for _, i := range order[:n] {
			t.insert(0, i, 0)
		}
	} else {
		for i := 0; i < n; i++ {
			t.insert(0, int32(i), 0)
		}
	}
	if cap(t.hot) < len(t.nodes) {
		t.hot = make([]spHot, len(t.nodes), cap(t.nodes))
	}
	t.hot = t.hot[:len(t.nodes)]
	if cap(t.mask) < len(t.nodes) {
		t.mask = make([]uint8, len(t.nodes), cap(t.nodes))
	}
	t.mask = t.mask[:len(t.nodes)]
	for i, node := range t.nodes {
		t.hot[i] = spHot{com: node.com, width2: node.width2, count: node.count, child: node.child}
		var m uint8
		if node.child >= 0 {
			for k := int32(0); k < 1<<d; k++ {
				if t.nodes[node.child+k].count > 0 {
					m |= 1 << k
				}
			}
		}
		t.mask[i] = m
	}
	return t
}

func (t *spTree) pointAt(i int32) []float64 { return t.y[int(i)*t.d : (int(i)+1)*t.d] }

func (t *spTree) insert(at int, i int32, depth int) {
	p := t.pointAt(i)
	for {
		node := &t.nodes[at]
		// Update the centre of mass on the way down.
		node.count++
		for c := 0; c < t.d; c++ {
			node.com[c] += (p[c] - node.com[c]) / float64(node.count)
		}
		if node.child < 0 {
			if node.count == 1 {
				node.point = i
				return
			}
			if depth >= maxDepth || samePoint(t.pointAt(node.point), p) {
				return // duplicates share the leaf
			}
			// Split: move the resident point into a child.
			resident := node.point
			node.point = -1
			t.subdivide(at)
			node = &t.nodes[at]
			child := t.childFor(at, t.pointAt(resident))
			cn := &t.nodes[child]
			cn.count, cn.point = 1, resident
			copy(cn.com[:t.d], t.pointAt(resident))
		}
		at = t.childFor(at, p)
		depth++
	}
}

func width2(half [3]float64, d int) float64 {
	w := 0.0
	for c := 0; c < d; c++ {
		w = math.Max(w, 2*half[c])
	}
	return w * w
}

func samePoint(a, b []float64) bool {
	for c := range a {
		if a[c] != b[c] {
			return false
		}
	}
	return true
}

func (t *spTree) subdivide(at int) {
	first := int32(len(t.nodes))
	parent := t.nodes[at]
	for k := 0; k < 1<<t.d; k++ {
		child := spNode{point: -1, child: -1}
		for c := 0; c < t.d; c++ {
			child.half[c] = parent.half[c] / 2
			if k>>c&1 == 1 {
				child.center[c] = parent.center[c] + child.half[c]
			} else {
				child.center[c] = parent.center[c] - child.half[c]
			}
		}
		child.width2 = width2(child.half, t.d)
		t.nodes = append(t.nodes, child)
	}
	t.nodes[at].child = first
}

func (t *spTree) childFor(at int, p []float64) int {
	node := &t.nodes[at]
	k := 0
	for c := 0; c < t.d; c++ {
		if p[c] > node.center[c] {
			k |= 1 << c
		}
	}
	return int(node.child) + k
}

// repulsion adds Σ_j q_ij²(y_i - y_j) over all j ≠ i to f, approximating a
// cell by its centre of mass when its width over its distance is below
// theta, and returns Σ_j q_ij, where q_ij = 1/(1+|y_i - y_j|²). It is the
// hot loop of Barnes-Hut t-SNE, hence the fixed 3-vectors and the widths
// computed once per cell.
func (t *spTree) repulsion(yi []float64, theta float64, f []float64, stack *[]int32) float64 {
	var p, force [3]float64
	copy(p[:], yi)
	theta2 := theta * theta
	var sumQ float64
	nodes, masks := t.hot, t.mask
	st := append((*stack)[:0], 0)
	for len(st) > 0 {
		at := st[len(st)-1]
		st = st[:len(st)-1]
		node := &nodes[at]
		if node.count == 0 {
			continue
		}
		dx, dy, dz := p[0]-node.com[0], p[1]-node.com[1], p[2]-node.com[2]
		d2 := dx*dx + dy*dy + dz*dz // dz is 0 in 2-D
		if node.child >= 0 && node.width2 >= theta2*d2 {
			for m := masks[at]; m != 0; m &= m - 1 { // the non-empty children, in order
				st = append(st, node.child+int32(bits.TrailingZeros8(m)))
			}
			continue
		}
		if d2 == 0 && node.child < 0 {
			// A leaf at y_i itself holds i and any exact duplicates of it:
			// q = 1 for each duplicate, and no force.
			sumQ += float64(node.count - 1)
			continue
		}
		q := 1 / (1 + d2)
		m := float64(node.count) * q
		sumQ += m
		m *= q
		force[0] += m * dx
		force[1] += m * dy
		force[2] += m * dz
	}
	*stack = st
	for c := range f {
		f[c] += force[c]
	}
	return sumQ
}
