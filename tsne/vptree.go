package tsne

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"sort"
)

// vpTree is a vantage-point tree over Euclidean distance, for k-nearest-
// neighbour search (Yianilos 1993): each node splits the remaining points
// at the median distance from a random vantage point.
type vpTree struct {
	x     []float64
	d     int
	nodes []vpNode
	root  int
}

type vpNode struct {
	point       int
	radius      float64 // median distance: inside < radius ≤ outside
	inside, out int     // child node indices, -1 for none
}

func newVPTree(x []float64, n, d int, rng *rand.Rand) *vpTree {
	t := &vpTree{x: x, d: d, nodes: make([]vpNode, 0, n)}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	dist := make([]float64, n)
	t.root = t.build(idx, dist, rng)
	return t
}

func (t *vpTree) dist(i, j int) float64 {
	return math.Sqrt(sqDist(t.x[i*t.d:(i+1)*t.d], t.x[j*t.d:(j+1)*t.d]))
}

func (t *vpTree) build(idx []int, dist []float64, rng *rand.Rand) int {
	if len(idx) == 0 {
		return -1
	}
	v := rng.IntN(len(idx))
	idx[0], idx[v] = idx[v], idx[0]
	node := vpNode{point: idx[0], inside: -1, out: -1}
	at := len(t.nodes)
	t.nodes = append(t.nodes, node)
	rest := idx[1:]
	if len(rest) == 0 {
		return at
	}
	ds := dist[:len(rest)]
	for i, p := range rest {
		ds[i] = t.dist(node.point, p)
	}
	sort.Sort(byDist{rest, ds})
	mid := len(rest) / 2
	t.nodes[at].radius = ds[mid]
	inside := t.build(rest[:mid], dist, rng)
	outside := t.build(rest[mid:], dist, rng)
	t.nodes[at].inside, t.nodes[at].out = inside, outside
	return at
}

type byDist struct {
	idx []int
	d   []float64
}

func (b byDist) Len() int           { return len(b.idx) }
func (b byDist) Less(i, j int) bool { return b.d[i] < b.d[j] }
func (b byDist) Swap(i, j int) {
	b.idx[i], b.idx[j] = b.idx[j], b.idx[i]
	b.d[i], b.d[j] = b.d[j], b.d[i]
}

// neighbour is a candidate in a max-heap by distance.
type neighbour struct {
	point int
	dist  float64
}

type maxHeap []neighbour

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[i].dist > h[j].dist }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(v any)        { *h = append(*h, v.(neighbour)) }
func (h *maxHeap) Pop() any          { old := *h; v := old[len(old)-1]; *h = old[:len(old)-1]; return v }
func (h maxHeap) top() float64       { return h[0].dist }
func (h *maxHeap) offer(n neighbour, k int) {
	if h.Len() < k {
		heap.Push(h, n)
	} else if n.dist < h.top() {
		(*h)[0] = n
		heap.Fix(h, 0)
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x7e5e)) }

// searcher finds k nearest neighbours; one per goroutine.
type searcher struct {
	t    *vpTree
	k    int
	heap maxHeap
	q    []float64
	idx  []int
	dist []float64
}

func (t *vpTree) searcher(k int) *searcher {
	return &searcher{t: t, k: k, heap: make(maxHeap, 0, k), idx: make([]int, k), dist: make([]float64, k)}
}

// search returns the k nearest points to q (the query itself included if
// it is in the tree), nearest first.
func (s *searcher) search(q []float64) ([]int, []float64) {
	s.heap = s.heap[:0]
	s.q = q
	s.visit(s.t.root)
	n := s.heap.Len()
	for i := n - 1; i >= 0; i-- {
		v := heap.Pop(&s.heap).(neighbour)
		s.idx[i], s.dist[i] = v.point, v.dist
	}
	return s.idx[:n], s.dist[:n]
}

func (s *searcher) visit(at int) {
	if at < 0 {
		return
	}
	node := &s.t.nodes[at]
	d := math.Sqrt(sqDist(s.q, s.t.x[node.point*s.t.d:(node.point+1)*s.t.d]))
	s.heap.offer(neighbour{node.point, d}, s.k)
	// Search the side the query is on first; the other only if the ball of
	// the current k-th distance crosses the boundary.
	if d < node.radius {
		s.visit(node.inside)
		if s.heap.Len() < s.k || d+s.tau() >= node.radius {
			s.visit(node.out)
		}
	} else {
		s.visit(node.out)
		if s.heap.Len() < s.k || d-s.tau() <= node.radius {
			s.visit(node.inside)
		}
	}
}

func (s *searcher) tau() float64 {
	if s.heap.Len() < s.k {
		return math.Inf(1)
	}
	return s.heap.top()
}
