package tsne

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/dsp/fourier"
)

// FFT-accelerated repulsion (FIt-SNE: Linderman, Rachh, Hoskins, Steinerberger
// & Kluger, Nature Methods 2019), for 1-D and 2-D embeddings.
//
// The repulsive force on point i and the normalisation Z are sums over all
// pairs of smooth kernels of y_i - y_j:
//
//	F_i = Σ_j (y_i - y_j) / (1+|y_i-y_j|²)²,   Z = Σ_{i≠j} 1 / (1+|y_i-y_j|²).
//
// The embedding's bounding square is cut into equal boxes and each box
// holds p interpolation nodes per dimension, placed so that all the nodes
// together form one equispaced grid (spacing δ = box width / p). Each
// point's unit charge is spread onto the p^d nodes of its box with the
// Lagrange polynomials through those nodes; the kernel, evaluated between
// nodes only, is then a Toeplitz matrix in each dimension, which the FFT
// applies in O(M log M) for M nodes (zero-padded to 2M so that the circular
// convolution is the linear one); the potentials on the nodes are brought
// back to the points with the same Lagrange weights. The cost is linear in
// the number of points and depends otherwise only on the grid, that is on
// the embedding's extent, not on how the points are spread in it.
//
// Two choices differ from FIt-SNE's published code, and both cut the work
// per iteration to one forward transform and two inverse ones:
//
//   - The force is convolved directly with the odd kernels r_x/(1+r²)² and
//     r_y/(1+r²)², of the single unit charge, instead of as y_i·Σ_j K -
//     Σ_j K·y_j with charges [1, y_x, y_y], whose two large terms cancel
//     and lose digits as the embedding grows.
//   - Z = Σ_i φ(y_i) - n, where φ is the potential of the Cauchy kernel
//     1/(1+r²). Interpolating back is the transpose of spreading, so
//     Σ_i φ(y_i) = Σ_nodes W·φ = Σ_k |Ŵ_k|²·K̂_k / (2M)^d by Parseval: Z
//     needs no inverse transform at all.
//
// The box width is taken from a fixed ladder of values (layout), so that
// the kernels' spectra, which depend only on the grid, are recomputed only
// when the grid changes size rather than at every iteration. With the near
// field (fftnear.go) the width is priced; without it, it is capped at a
// width the interpolation alone handles.
//
// Every sum is done in an order that depends on the data alone (charges
// spread point by point in index order; transforms row by row and column
// by column; Z summed column by column, then over the columns in order), so
// the result is the same for any number of workers.
type fftGrid struct {
	d int // 1 or 2
	fftParams
	near nearField // the exact near field, when the layout uses it

	// The current layout, set by place.
	lo   [3]float64 // the grid's lower corner
	h    float64    // box width
	nb   int        // boxes per dimension
	m    int        // nodes per dimension, nb·p
	pn   int        // padded length, 2m
	half int        // real-FFT coefficients per padded row, m+1

	// The kernels' spectra, for the layout (kernH, kernNB); 2-D spectra are
	// stored column by column: [kx·pn + ky] for kx < half, ky < pn.
	kernH        float64
	kernNB       int
	useNear      bool // this layout computes neighbouring boxes' pairs exactly
	nearJ        int  // the ladder step of the last near-field layout, -1 before one
	lastNear     bool // the last priced layout used the near field
	calls        int  // layouts made for forces, to price them every layoutEvery calls
	readOnly     bool // this layout is for normalisation alone: price nothing, change nothing
	kz, kfx, kfy []complex128

	w          []float64    // the charges on the nodes, m^d, row-major (y, then x)
	spec       []complex128 // their spectrum
	phiX, phiY []float64    // force potentials on the nodes
	tmp        []complex128 // 2-D inverse transforms: rows of half coefficients
	colZ       []float64    // Parseval's sum, per spectrum column
	base       []int32      // per point: its box's first node
	wts        []float64    // per point: d·p Lagrange weights
	invDenom   []float64    // the Lagrange denominators' reciprocals, per node
	workers    []*fftWorker // one per worker: gonum's transforms keep scratch space
}

// fftWorker is one worker's transform and buffers.
type fftWorker struct {
	r          *fourier.FFT
	row, row2  []float64
	coef, cof2 []complex128
	col        []complex128
}

// The column passes of the 2-D transforms act on complex sequences. gonum's
// complex FFT is about three times slower than its real one of the same
// length, so a complex column is transformed as two real sequences, its
// real and imaginary parts, whose spectra A and B combine into the
// column's: Z_k = A_k + i·B_k, where the real transforms give the half
// k ≤ n/2 and A_{n-k} = conj(A_k), B_{n-k} = conj(B_k) the rest.

// colForward replaces col (length pn) by its DFT.
func (wk *fftWorker) colForward(col []complex128) {
	n := len(col)
	for r, v := range col {
		wk.row[r], wk.row2[r] = real(v), imag(v)
	}
	a := wk.r.Coefficients(wk.coef, wk.row)
	b := wk.r.Coefficients(wk.cof2, wk.row2)
	for k := range a {
		col[k] = a[k] + complex(-imag(b[k]), real(b[k]))
	}
	for k := 1; k < n/2; k++ { // A_{n-k} + i·B_{n-k} = conj(A_k) + i·conj(B_k)
		col[n-k] = complex(real(a[k])+imag(b[k]), -imag(a[k])+real(b[k]))
	}
}

// colInverse replaces the first m values of col by those of its inverse
// DFT, unnormalised: the Hermitian and anti-Hermitian parts of col,
// A_k = (Z_k + conj(Z_{n-k}))/2 and B_k = (Z_k - conj(Z_{n-k}))/(2i),
// are the spectra of its real and imaginary parts.
func (wk *fftWorker) colInverse(col []complex128, m int) {
	n := len(col)
	for k := 0; k <= n/2; k++ {
		z, zc := col[k], col[(n-k)%n]
		zc = complex(real(zc), -imag(zc))
		wk.coef[k] = (z + zc) / 2
		d := (z - zc) / 2
		wk.cof2[k] = complex(imag(d), -real(d)) // d / i
	}
	a := wk.r.Sequence(wk.row, wk.coef)
	b := wk.r.Sequence(wk.row2, wk.cof2)
	for r := 0; r < m; r++ {
		col[r] = complex(a[r], b[r])
	}
}

// fftParams are the interpolation's settings.
type fftParams struct {
	p        int     // interpolation nodes per box and dimension
	maxBox   float64 // the largest box width
	minBoxes int     // the fewest boxes per dimension
	// withNear enables the exact near field (fftnear.go): pairs of points in
	// the same or adjacent boxes are summed exactly and the grid carries
	// only the rest, with the box width chosen at each iteration for the
	// least work (layout).
	withNear bool
	// pureBox is the box width at and below which the interpolation alone
	// is accurate enough and the near field is not computed.
	pureBox float64
	// fixedBox, if positive, is the box width of every near-field layout,
	// unpriced (for tests and measurements).
	fixedBox float64
}

// The interpolation's defaults: 3 nodes per box (FIt-SNE's), the near
// field computed exactly, boxes up to 8 wide as priced, and the
// interpolation alone (boxes ≤ 0.25, at least 50 per dimension) while that
// prices lower. The interpolation alone is least accurate between points less
// than a box apart, where the kernel changes fastest: at 3 nodes per box
// of width 1 (FIt-SNE's rule) the forces on a real map were 4% off, all
// of it between such neighbours, which kept clusters from spreading (maps
// a third narrower than Barnes-Hut's, KL 10% higher). Summing those pairs
// exactly leaves the grid only pairs at least a box apart, where the
// kernel is smooth, so the boxes can be wider, and the grid (whose
// transforms cost the most) smaller, at the same accuracy
// (docs/BENCHMARKS.md, t-SNE).
var defaultFFT = fftParams{p: 3, maxBox: 8, minBoxes: fftMinBoxes, withNear: true, pureBox: 0.25}

// pureFFT is the interpolation without the near field that matched
// Barnes-Hut's KL: 5 nodes per box of width at most 1 (2.8 times the grid
// of 3 nodes per box), kept for comparison.
var pureFFT = fftParams{p: 5, maxBox: 1, minBoxes: fftMinBoxes}

const (
	// maxPadded caps the padded grid's side (memory: 3000² complex values
	// per kernel spectrum is 144 MB).
	maxPadded   = 3000
	fftMinBoxes = 50
	// The layout's costs in units of one exact near-field pair (an ordered
	// pair, as countPairs counts them): a node of the padded grid (its
	// share of the three transforms), and an occupied box's grid
	// correction (subtractGrid) per p⁴. Measured at the final 70 000-point
	// map of docs/BENCHMARKS.md over box widths 1.2-8, in wall time on
	// that machine's 2 cores with the AVX2 kernels (pairs_amd64.s): an
	// ordered pair about 0.2 ns (each pair computed once, exactSym2),
	// transforms 42-59 ns a node, 160-240 ns a box. The widths these
	// prices choose there (3.4-4.8) were the fastest measured, against
	// 2.8 with the prices of the Go loops (20 against 26 ms an iteration,
	// before pairs were computed once).
	fftNodeCost  = 250
	boxCostPerP4 = 12
	layoutEvery  = 8
)

func newFFTGrid(d int, prm fftParams) *fftGrid {
	p := prm.p
	if p < 1 || !(prm.maxBox > 0) || prm.minBoxes < 1 || prm.withNear && !(prm.pureBox > 0) {
		panic(fmt.Sprintf("tsne: bad FFT parameters %+v", prm)) // internal settings, never user input
	}
	g := &fftGrid{d: d, fftParams: prm, invDenom: make([]float64, p), nearJ: -1}
	for k := 0; k < p; k++ {
		den := 1.0
		for l := 0; l < p; l++ {
			if l != k {
				den *= float64(k - l)
			}
		}
		g.invDenom[k] = math.Pow(float64(p), float64(p-1)) / den
	}
	return g
}

// smooth5 returns the least integer at least n whose only prime factors are
// 2, 3 and 5, the lengths gonum's FFT (FFTPACK) handles fastest.
func smooth5(n int) int {
	for ; ; n++ {
		k := n
		for _, f := range []int{2, 3, 5} {
			for k%f == 0 {
				k /= f
			}
		}
		if k == 1 {
			return n
		}
	}
}

// place sets the grid's layout for the embedding y and recomputes the
// kernels' spectra if the layout changed.
func (g *fftGrid) place(y []float64, n, workers int) {
	lo, hi := bounds(y, n, g.d)
	ext := 0.0
	for c := 0; c < g.d; c++ {
		ext = math.Max(ext, hi[c]-lo[c])
	}
	ext = math.Max(ext, 1e-12)
	g.layout(y, n, lo, ext)
	nb := g.nb
	g.m = nb * g.p
	g.pn = 2 * g.m
	g.half = g.m + 1
	if len(g.workers) != workers || g.workers[0].r.Len() != g.pn {
		g.workers = make([]*fftWorker, workers)
		for w := range g.workers {
			g.workers[w] = &fftWorker{r: fourier.NewFFT(g.pn), row: make([]float64, g.pn), row2: make([]float64, g.pn),
				coef: make([]complex128, g.half), cof2: make([]complex128, g.half), col: make([]complex128, g.pn)}
		}
	}
	nodes := g.m
	specLen := g.half
	if g.d == 2 {
		nodes *= g.m
		specLen *= g.pn
	}
	g.w = resize(g.w, nodes)
	g.phiX = resize(g.phiX, nodes)
	g.spec = resizeC(g.spec, specLen)
	if g.d == 2 {
		g.phiY = resize(g.phiY, nodes)
		g.tmp = resizeC(g.tmp, g.m*g.half)
		g.colZ = resize(g.colZ, g.half)
	}
	if g.kernH != g.h || g.kernNB != nb {
		g.kernels(workers)
		g.kernH, g.kernNB = g.h, nb
	}
	if g.useNear {
		g.near.tables(g)
	}
}

// ladder is the box width at step j of the ladder maxBox·2^(-j/4): few
// distinct widths, so that the kernels' spectra are rarely recomputed.
func (g *fftGrid) ladder(j int) float64 { return g.maxBox * math.Exp2(-float64(j)/4) }

// boxesFor is the number of boxes per dimension of width h over ext.
func (g *fftGrid) boxesFor(ext, h float64) int {
	return fastBoxes(max(1, int(math.Ceil(ext/h))))
}

// fastBoxes returns the least integer at least n of the form 2^a·3^b·5^c
// with b ≤ 1. With 3 nodes per box the padded length 6·nb then has at most
// two factors 3: gonum's FFTPACK takes 23-25 ns per value at such lengths
// (480, 600, 640, 768) and 28-33 at 486 = 2·3⁵ or 648 = 2³·3⁴.
func fastBoxes(n int) int {
	for ; ; n++ {
		k := n
		for k%2 == 0 {
			k /= 2
		}
		for k%5 == 0 {
			k /= 5
		}
		if k == 1 || k == 3 {
			return n
		}
	}
}

// layout sets the box width and count (and useNear) for an embedding of
// extent ext from lo.
//
// Without the near field, or while the embedding is small: the widest
// box of the ladder no wider than pureBox (without the near field,
// maxBox) that gives at least minBoxes boxes. With it, the layout that
// costs least: the transforms cost fftNodeCost per node of the padded
// grid, which shrinks as boxes widen, and the near field one per pair,
// which grows; the search descends from the last priced width (the extent
// changes slowly), and the interpolation alone, at its accurate width,
// competes too.
func (g *fftGrid) layout(y []float64, n int, lo [3]float64, ext float64) {
	widest := g.maxBox
	if g.withNear {
		widest = math.Min(g.maxBox, g.pureBox)
	}
	target := math.Min(widest, ext/float64(g.minBoxes))
	jPure := int(math.Ceil(-4 * math.Log2(target/g.maxBox) * (1 - 1e-12)))
	for g.ladder(jPure) > target {
		jPure++
	}
	g.lo, g.h, g.useNear = lo, g.ladder(jPure), false
	g.nb = smooth5(max(g.minBoxes, int(math.Ceil(ext/g.h))))
	if !g.withNear {
		return
	}
	if g.fixedBox > 0 {
		g.h, g.nb, g.useNear = g.fixedBox, g.boxesFor(ext, g.fixedBox), true
		g.near.bin(g, y, n)
		return
	}
	padded := func(nb int) float64 { p := float64(2 * g.p * nb); return p * p }
	best := math.Inf(1)
	if 2*g.p*g.nb <= maxPadded {
		best = fftNodeCost * padded(g.nb)
	}
	if g.nearJ < 0 {
		g.nearJ = jPure - 1
	}
	// Pricing the layouts costs three passes over the points: done every
	// few calls, the last choice kept in between. A Z for the KL alone
	// (readOnly) takes the last choice and leaves the state as it was, so
	// that reporting progress does not change the map.
	if !g.readOnly {
		g.calls++
	}
	reuse := g.calls%layoutEvery != 0 || g.readOnly && g.calls > 0
	if reuse && g.lastNear && g.nearJ < jPure {
		g.h, g.nb, g.useNear = g.ladder(g.nearJ), g.boxesFor(ext, g.ladder(g.nearJ)), true
		g.near.bin(g, y, n)
		return
	}
	if reuse && !g.lastNear && g.calls > 1 {
		return
	}
	// Descend from the last width: wider boxes while that costs less,
	// else narrower ones while that does (a few probes: the cost has one
	// minimum, where the grid's shrinking stops paying for the pairs).
	cost := func(j int) float64 {
		if j < 0 || j >= jPure {
			return math.Inf(1)
		}
		h := g.ladder(j)
		nb := g.boxesFor(ext, h)
		if 2*g.p*nb > maxPadded {
			return math.Inf(1)
		}
		pairs, occupied := g.near.countPairs(g.d, y, n, lo, h, nb)
		boxCost := boxCostPerP4 * math.Pow(float64(g.p), 4) // subtractGrid's work per occupied box
		return fftNodeCost*padded(nb) + pairs + boxCost*float64(occupied)
	}
	j := min(g.nearJ, jPure-1)
	here := cost(j)
	for math.IsInf(here, 1) && j > 0 { // the grid over its cap: wider boxes
		j--
		here = cost(j)
	}
	for _, step := range []int{-1, 1} {
		moved := false
		for {
			c := cost(j + step)
			if !(c < here) {
				break
			}
			j, here, moved = j+step, c, true
		}
		if moved {
			break
		}
	}
	bestJ := -1
	if here < best {
		bestJ = j
	}
	g.lastNear = bestJ >= 0
	if bestJ < 0 {
		g.nearJ = jPure - 1 // the interpolation alone; probe from its edge next time
		return
	}
	g.nearJ = bestJ
	g.h, g.nb, g.useNear = g.ladder(bestJ), g.boxesFor(ext, g.ladder(bestJ)), true
	g.near.bin(g, y, n)
}

func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

func resizeC(s []complex128, n int) []complex128 {
	if cap(s) < n {
		return make([]complex128, n)
	}
	return s[:n]
}

// offset is the signed node offset that padded index t stands for: t for
// t < m, t - 2m above (index m, which no pair of nodes uses, gets -m).
func (g *fftGrid) offset(t int) float64 {
	if t < g.m {
		return float64(t)
	}
	return float64(t - g.pn)
}

// kernels computes the spectra of the three kernels on the padded grid.
func (g *fftGrid) kernels(workers int) {
	delta := g.h / float64(g.p)
	specLen := g.half
	if g.d == 2 {
		specLen *= g.pn
	}
	g.kz, g.kfx, g.kfy = resizeC(g.kz, specLen), resizeC(g.kfx, specLen), resizeC(g.kfy, specLen)
	if g.d == 1 {
		kz, kx := make([]float64, g.pn), make([]float64, g.pn)
		for t := range kz {
			r := delta * g.offset(t)
			q := 1 / (1 + r*r)
			kz[t], kx[t] = q, r*q*q
		}
		g.workers[0].r.Coefficients(g.kz, kz)
		g.workers[0].r.Coefficients(g.kfx, kx)
		return
	}
	kz, kx, ky := make([]float64, g.pn*g.pn), make([]float64, g.pn*g.pn), make([]float64, g.pn*g.pn)
	parallelChunks(g.pn, workers, func(_, lo, hi int) {
		for ty := lo; ty < hi; ty++ {
			ry := delta * g.offset(ty)
			for tx := 0; tx < g.pn; tx++ {
				rx := delta * g.offset(tx)
				q := 1 / (1 + rx*rx + ry*ry)
				at := ty*g.pn + tx
				kz[at], kx[at], ky[at] = q, rx*q*q, ry*q*q
			}
		}
	})
	g.forward2(kz, g.pn, g.pn, g.kz, workers)
	g.forward2(kx, g.pn, g.pn, g.kfx, workers)
	g.forward2(ky, g.pn, g.pn, g.kfy, workers)
}

// forward2 writes the 2-D spectrum of the pn×pn grid whose first rows rows
// are src (cols values each, row-major) and whose other values are zero.
func (g *fftGrid) forward2(src []float64, rows, cols int, spec []complex128, workers int) {
	pn := g.pn
	parallelChunks(rows, workers, func(w, lo, hi int) {
		wk := g.workers[w]
		clear(wk.row[cols:])
		for r := lo; r < hi; r++ {
			copy(wk.row, src[r*cols:(r+1)*cols])
			wk.r.Coefficients(wk.coef, wk.row)
			for c, v := range wk.coef {
				spec[c*pn+r] = v
			}
		}
	})
	parallelChunks(g.half, workers, func(w, lo, hi int) {
		wk := g.workers[w]
		for c := lo; c < hi; c++ {
			col := spec[c*pn : (c+1)*pn]
			clear(col[rows:])
			wk.colForward(col)
		}
	})
}

// convolve2 writes to out (m×m) the first m×m values of the linear
// convolution whose operands' spectra are a and b.
func (g *fftGrid) convolve2(a, b []complex128, out []float64, workers int) {
	pn, m, half := g.pn, g.m, g.half
	parallelChunks(half, workers, func(w, lo, hi int) {
		wk := g.workers[w]
		for c := lo; c < hi; c++ {
			ca, cb := a[c*pn:(c+1)*pn], b[c*pn:(c+1)*pn]
			for r := range wk.col {
				wk.col[r] = ca[r] * cb[r]
			}
			wk.colInverse(wk.col, m)
			for r := 0; r < m; r++ {
				g.tmp[r*half+c] = wk.col[r]
			}
		}
	})
	scale := 1 / float64(pn*pn)
	parallelChunks(m, workers, func(w, lo, hi int) {
		wk := g.workers[w]
		for r := lo; r < hi; r++ {
			wk.r.Sequence(wk.row, g.tmp[r*half:(r+1)*half])
			for x := 0; x < m; x++ {
				out[r*m+x] = wk.row[x] * scale
			}
		}
	})
}

// spread computes every point's box and Lagrange weights and adds its unit
// charge onto the nodes of its box, in index order.
func (g *fftGrid) spread(y []float64, n, workers int) {
	d, p := g.d, g.p
	if cap(g.base) < n {
		g.base = make([]int32, n)
		g.wts = make([]float64, n*d*p)
	}
	g.base, g.wts = g.base[:n], g.wts[:n*d*p]
	inv := 1 / g.h
	parallelChunks(n, workers, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			base := 0
			for c := d - 1; c >= 0; c-- {
				b := g.box(y[i*d+c], c, inv)
				u := (y[i*d+c]-g.lo[c])*inv - float64(b)
				g.lagrange(u, g.wts[(i*d+c)*p:(i*d+c+1)*p])
				base = base*g.m + b*p
			}
			g.base[i] = int32(base)
		}
	})
	clear(g.w)
	if d == 1 {
		for i := 0; i < n; i++ {
			b := int(g.base[i])
			for k, v := range g.wts[i*p : (i+1)*p] {
				g.w[b+k] += v
			}
		}
		return
	}
	m := g.m
	add := func(i int) {
		b := int(g.base[i])
		wx, wy := g.wts[2*i*p:(2*i+1)*p], g.wts[(2*i+1)*p:(2*i+2)*p]
		for l, vy := range wy {
			row := g.w[b+l*m : b+l*m+p]
			for k, vx := range wx {
				row[k] += vx * vy
			}
		}
	}
	if !g.useNear {
		for i := 0; i < n; i++ {
			add(i)
		}
		return
	}
	// The points sorted by box (near field): each box's nodes take only
	// its own points' charges, so boxes can be spread in parallel, each
	// in index order.
	nf := &g.near
	parallelBalanced(len(nf.occupied), workers, 256, func(lo, hi int) {
		for _, b := range nf.occupied[lo:hi] {
			for _, i := range nf.cellPts[nf.cellStart[b]:nf.cellStart[b+1]] {
				add(int(i))
			}
		}
	})
}

// lagrange writes the values at u (in [0, 1], the position in a box) of
// the p Lagrange polynomials through the nodes (k+½)/p.
func (g *fftGrid) lagrange(u float64, w []float64) {
	p := g.p
	if p == 3 { // the default, written out: nodes 1/6, 1/2, 5/6
		a, b, c := u-1.0/6, u-0.5, u-5.0/6
		w[0], w[1], w[2] = b*c*g.invDenom[0], a*c*g.invDenom[1], a*b*g.invDenom[2]
		return
	}
	for k := 0; k < p; k++ {
		num := 1.0
		for l := 0; l < p; l++ {
			if l != k {
				num *= u - (float64(l)+0.5)/float64(p)
			}
		}
		w[k] = num * g.invDenom[k]
	}
}

// repulsion fills rep (n×d) with Σ_j (y_i - y_j)/(1+|y_i-y_j|²)² for every
// point and returns Z = Σ_{i≠j} 1/(1+|y_i-y_j|²).
func (g *fftGrid) repulsion(y []float64, n, workers int, rep []float64) float64 {
	z := g.gridZ(y, n, workers)
	if g.d == 1 {
		wk := g.workers[0]
		for k, v := range g.spec {
			wk.coef[k] = v * g.kfx[k]
		}
		wk.r.Sequence(wk.row, wk.coef)
		for x := 0; x < g.m; x++ {
			g.phiX[x] = wk.row[x] / float64(g.pn)
		}
	} else {
		g.convolve2(g.spec, g.kfx, g.phiX, workers)
		g.convolve2(g.spec, g.kfy, g.phiY, workers)
	}
	if !g.useNear {
		g.gather(n, workers, rep)
		return z - float64(n)
	}
	z -= g.near.subtractGrid(g, workers, true)
	g.gather(n, workers, rep)
	return z + g.near.exact(g, y, n, workers, rep)
}

// normalisation returns Z alone.
func (g *fftGrid) normalisation(y []float64, n, workers int) float64 {
	// The layout state (the last priced choice, the call count) is put
	// back afterwards: reporting the KL must not change the map.
	nearJ, lastNear, calls := g.nearJ, g.lastNear, g.calls
	g.readOnly = true
	z := g.gridZ(y, n, workers)
	g.readOnly = false
	defer func() { g.nearJ, g.lastNear, g.calls = nearJ, lastNear, calls }()
	if !g.useNear {
		return z - float64(n)
	}
	return z - g.near.subtractGrid(g, workers, false) + g.near.exact(g, y, n, workers, nil)
}

// gridZ lays out the grid, spreads the charges, transforms them into
// g.spec and returns the grid's Σ_nodes W·(K∗W), Z with every point's
// interaction with itself (about n).
func (g *fftGrid) gridZ(y []float64, n, workers int) float64 {
	g.place(y, n, workers)
	g.spread(y, n, workers)
	if g.d == 1 {
		wk := g.workers[0]
		clear(wk.row[g.m:])
		copy(wk.row, g.w)
		wk.r.Coefficients(g.spec, wk.row)
		return parseval(g.spec, g.kz, true) / float64(g.pn)
	}
	g.forward2(g.w, g.m, g.m, g.spec, workers)
	pn := g.pn
	parallelChunks(g.half, workers, func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			g.colZ[c] = parseval(g.spec[c*pn:(c+1)*pn], g.kz[c*pn:(c+1)*pn], false)
			if c != 0 && c != g.half-1 {
				g.colZ[c] *= 2
			}
		}
	})
	var z float64
	for _, s := range g.colZ { // in order: the same sum for any number of workers
		z += s
	}
	return z / float64(pn*pn)
}

// parseval returns Σ_k |a_k|²·Re(b_k): Σ_nodes W·(K∗W) by Parseval's
// theorem, up to the transform's length. A real FFT keeps only half the
// spectrum; the coefficients it leaves out mirror those strictly between
// the first and the last, which therefore count twice: halfSpectrum says
// a and b are such a half (1-D), and 2-D callers weight whole columns.
func parseval(a, b []complex128, halfSpectrum bool) float64 {
	var s float64
	for k := range a {
		t := (real(a[k])*real(a[k]) + imag(a[k])*imag(a[k])) * real(b[k])
		if halfSpectrum && k != 0 && k != len(a)-1 {
			t *= 2
		}
		s += t
	}
	return s
}

// gather interpolates the force potentials back to the points.
func (g *fftGrid) gather(n, workers int, rep []float64) {
	p, m := g.p, g.m
	parallelChunks(n, workers, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			b := int(g.base[i])
			if g.d == 1 {
				var f float64
				for k, v := range g.wts[i*p : (i+1)*p] {
					f += v * g.phiX[b+k]
				}
				rep[i] = f
				continue
			}
			wx, wy := g.wts[2*i*p:(2*i+1)*p], g.wts[(2*i+1)*p:(2*i+2)*p]
			var fx, fy float64
			for l, vy := range wy {
				px, py := g.phiX[b+l*m:b+l*m+p], g.phiY[b+l*m:b+l*m+p]
				var sx, sy float64
				for k, vx := range wx {
					sx += vx * px[k]
					sy += vx * py[k]
				}
				fx += vy * sx
				fy += vy * sy
			}
			rep[2*i], rep[2*i+1] = fx, fy
		}
	})
}

// parallelBalanced runs fn over [0, n) in chunks of at most chunk items
// that workers goroutines take in turn, for loops whose items cost very
// different amounts (points in dense clusters have many neighbours). fn
// must write only per-item results: which worker runs a chunk then does
// not change them.
func parallelBalanced(n, workers, chunk int, fn func(lo, hi int)) {
	if n <= chunk || workers <= 1 {
		fn(0, n)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(int64(chunk))) - chunk
				if lo >= n {
					return
				}
				fn(lo, min(lo+chunk, n))
			}
		}()
	}
	wg.Wait()
}

// parallelChunks runs fn over [0, n) in at most workers contiguous chunks,
// the w-th of them (from 0) in the w-th goroutine, so that fn can use
// per-worker scratch space.
func parallelChunks(n, workers int, fn func(w, lo, hi int)) {
	if n <= 0 {
		return
	}
	chunk := (n + workers - 1) / workers
	if chunk >= n {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for w, lo := 0, 0; lo < n; w, lo = w+1, lo+chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(w, lo, hi)
		}()
	}
	wg.Wait()
}
