package tsne

import (
	"math"
	"sync"

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
// The box width is capped (at 1, the kernel's own length scale, by default)
// and taken from a fixed ladder of values, so that the kernels' spectra,
// which depend only on the grid, are recomputed only when the grid changes
// size rather than at every iteration.
//
// Every sum is done in an order that depends on the data alone (charges
// spread point by point in index order; transforms row by row and column
// by column; Z summed column by column, then over the columns in order), so
// the result is the same for any number of workers.
type fftGrid struct {
	d        int     // 1 or 2
	p        int     // interpolation nodes per box and dimension
	maxBox   float64 // the largest box width
	minBoxes int     // the fewest boxes per dimension

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
	kz, kfx, kfy []complex128

	w          []float64    // the charges on the nodes, m^d, row-major (y, then x)
	spec       []complex128 // their spectrum
	phiX, phiY []float64    // force potentials on the nodes
	tmp        []complex128 // 2-D inverse transforms: rows of half coefficients
	colZ       []float64    // Parseval's sum, per spectrum column
	base       []int32      // per point: its box's first node
	wts        []float64    // per point: d·p Lagrange weights
	denom      []float64    // Lagrange denominators, per node
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

// Defaults of the interpolation: 5 nodes per box, boxes no wider than 1,
// at least 50 boxes per dimension. FIt-SNE's box rule, but not its 3 nodes:
// at 3 the forces on a real map (5 000 Fashion-MNIST images, after 400
// iterations) are 4% off in the 2-norm, nearly all of it between
// neighbours less than a box apart, and that error, not a bias (the
// outward component is right to 0.03%), keeps the clusters from spreading:
// the final map was a third narrower than Barnes-Hut's and its KL 10%
// higher (9.5% at 20 000 points). FIt-SNE's own formulation (charges 1, y
// with the kernel 1/(1+r²)²) was 3% off and 8% higher in KL. At 5 nodes
// the force error is 0.4% and the KL 1.4% above Barnes-Hut's (θ 0.5), for
// (5/3)² as many nodes; halving the box width instead (0.6%, 2.2% above)
// costs 4 times the nodes (docs/BENCHMARKS.md, t-SNE).
const (
	fftNodes    = 5
	fftMaxBox   = 1.0
	fftMinBoxes = 50
)

func newFFTGrid(d, p int, maxBox float64, minBoxes int) *fftGrid {
	g := &fftGrid{d: d, p: p, maxBox: maxBox, minBoxes: minBoxes, denom: make([]float64, p)}
	for k := 0; k < p; k++ {
		den := 1.0
		for l := 0; l < p; l++ {
			if l != k {
				den *= float64(k - l)
			}
		}
		g.denom[k] = den / math.Pow(float64(p), float64(p-1))
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
	// The box width: the largest value of the ladder maxBox·2^(-j/4) that
	// gives at least minBoxes boxes.
	target := math.Min(g.maxBox, ext/float64(g.minBoxes))
	j := math.Ceil(-4 * math.Log2(target/g.maxBox) * (1 - 1e-12))
	h := g.maxBox * math.Exp2(-j/4)
	for h > target {
		j++
		h = g.maxBox * math.Exp2(-j/4)
	}
	nb := smooth5(max(g.minBoxes, int(math.Ceil(ext/h))))
	g.lo, g.h, g.nb = lo, h, nb
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
	if g.kernH != h || g.kernNB != nb {
		g.kernels(workers)
		g.kernH, g.kernNB = h, nb
	}
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
				u := (y[i*d+c] - g.lo[c]) * inv
				b := min(int(u), g.nb-1)
				u -= float64(b)
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
	for i := 0; i < n; i++ {
		b := int(g.base[i])
		wx, wy := g.wts[2*i*p:(2*i+1)*p], g.wts[(2*i+1)*p:(2*i+2)*p]
		for l, vy := range wy {
			row := g.w[b+l*m : b+l*m+p]
			for k, vx := range wx {
				row[k] += vx * vy
			}
		}
	}
}

// lagrange writes the values at u (in [0, 1], the position in a box) of
// the p Lagrange polynomials through the nodes (k+½)/p.
func (g *fftGrid) lagrange(u float64, w []float64) {
	p := g.p
	for k := 0; k < p; k++ {
		num := 1.0
		for l := 0; l < p; l++ {
			if l != k {
				num *= u - (float64(l)+0.5)/float64(p)
			}
		}
		w[k] = num / g.denom[k]
	}
}

// repulsion fills rep (n×d) with Σ_j (y_i - y_j)/(1+|y_i-y_j|²)² for every
// point and returns Z = Σ_{i≠j} 1/(1+|y_i-y_j|²).
func (g *fftGrid) repulsion(y []float64, n, workers int, rep []float64) float64 {
	z := g.normalisation(y, n, workers)
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
	g.gather(n, workers, rep)
	return z
}

// normalisation lays out the grid, spreads the charges, transforms them
// into g.spec and returns Z.
func (g *fftGrid) normalisation(y []float64, n, workers int) float64 {
	g.place(y, n, workers)
	g.spread(y, n, workers)
	var z float64
	if g.d == 1 {
		wk := g.workers[0]
		clear(wk.row[g.m:])
		copy(wk.row, g.w)
		wk.r.Coefficients(g.spec, wk.row)
		z = parseval(g.spec, g.kz, true) / float64(g.pn)
	} else {
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
		for _, s := range g.colZ { // in order: the same sum for any number of workers
			z += s
		}
		z /= float64(pn * pn)
	}
	return z - float64(n)
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
