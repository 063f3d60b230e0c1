package cpu

import (
	"runtime"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu/gemm"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmArgs is one GEMM call, split into tiles of C for the worker pool.
type gemmArgs struct {
	ta, tb      blas.Transpose
	m, n, k     int
	alpha, beta float32
	a, b, c     []float32
	lda, ldb    int
	tileRows    int
	tileCols    int
	tilesPerRow int
	// GemmBiasAct's epilogue (fused.go): bias (n values, or nil) and act
	// on every value of C; fused is false for a plain Gemm.
	fused    bool
	bias     []float32
	act      backend.Activation
	actAlpha float32
}

// The BLAS always runs single-threaded on a tile of C, and the backend's
// worker pool runs the tiles in parallel: one pool for every kernel, so that
// BLAS threads never spin while Go workers wait, or the reverse.
//
// gemmImpl is one SGEMM the backend can run on. With tileRows = 0, C is
// split into one slab per core along its longer side, in multiples of
// rowAlign rows or colAlign columns (the implementation's micro-tile, so
// that no slab ends in a partial one it could have avoided).
//
// gonum's Sgemm gets fixed 64×192 tiles instead: it parallelises a call
// that spans 4 or more 64×64 blocks, spawning goroutines and allocating on
// every call; a 64×192 tile spans 3, so each tile runs on gonum's serial
// code and our pool supplies the parallelism, allocation-free.
//
// diynn's own SGEMM runs each tile on a gemm.Workspace that the backend
// keeps (one per tile index, so one per core), rather than through the
// sync.Pool behind gemm.Implementation: a pool is emptied by every garbage
// collection (and, under the race detector, drops values at random), and a
// training step must allocate nothing.
type gemmImpl struct {
	ours               bool
	name, label        string
	impl               blas.Float32Level3
	tileRows, tileCols int
	rowAlign, colAlign int
}

// gemmImpls lists the SGEMMs compiled in, the default first.
func gemmImpls() []gemmImpl {
	ours := gemmImpl{ours: true, name: "diynn", label: "diynn " + gemm.Best().String(), impl: gemm.Implementation{}, rowAlign: 6, colAlign: 16}
	gonumImpl := gemmImpl{name: "gonum", label: "gonum", impl: gonum.Implementation{}, tileRows: 64, tileCols: 192}
	all := append([]gemmImpl{ours, gonumImpl}, extraGEMMs()...)
	for i, g := range all {
		if g.name == defaultGEMM {
			all[0], all[i] = all[i], all[0]
		}
	}
	return all
}

// GEMMs returns the names of the SGEMM implementations this build can use,
// the default first: "diynn" (package gemm), "gonum", and with -tags
// openblas "openblas".
func GEMMs() []string {
	var names []string
	for _, g := range gemmImpls() {
		names = append(names, g.name)
	}
	return names
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C through the build's BLAS.
func (c *Backend) Gemm(transA, transB bool, m, n, k int, alpha float32, a, b backend.Buffer, beta float32, cb backend.Buffer) {
	c.gemm2("Gemm", transA, transB, m, n, k, alpha, a, b, beta, cb, false, nil, 0, 0)
}

// gemm2 is Gemm and, when fused (GemmBiasAct), Gemm followed by the
// epilogue bias + act on every value of C; bias, when not nil, is checked
// with the other operands.
func (c *Backend) gemm2(op string, transA, transB bool, m, n, k int, alpha float32, a, b backend.Buffer, beta float32, cb backend.Buffer,
	fused bool, bias backend.Buffer, act backend.Activation, actAlpha float32) {
	if !c.ok() {
		return
	}
	if m < 0 || n < 0 || k < 0 {
		c.fail("%s: negative size m=%d n=%d k=%d", op, m, n, k)
		return
	}
	ad, bd, cd := c.data(a, m*k, op, "A"), c.data(b, k*n, op, "B"), c.data(cb, m*n, op, "C")
	var biasd []float32
	if bias != nil {
		biasd = c.data(bias, n, op, "bias")
	}
	if c.err != nil || m == 0 || n == 0 {
		return
	}
	if k == 0 {
		// C = beta·C, never read when beta is 0. Handled here for every
		// SGEMM: a BLAS may return early without scaling C, and with k = 0
		// the leading dimension of A (k) breaks the BLAS contract.
		if beta == 0 {
			clear(cd)
		} else {
			c.Scale(m*n, beta, cb)
		}
		if fused {
			ep := gemmEpilogue{bias: biasd, act: act, alpha: actAlpha}
			ep.Apply(cd, n, m, n, 0)
		}
		return
	}
	// diynn's SGEMM never reads C when beta is 0 (tested with NaN in C), so
	// it gets the call as it is; clearing a 128×784 C first would cost a
	// fifth of the product. Other BLAS must not read C either (it may hold
	// NaN), so C is cleared for them.
	if beta == 0 && !c.gemm.ours {
		clear(cd)
	}
	g := gemmArgs{m: m, n: n, k: k, alpha: alpha, beta: beta, a: ad, b: bd, c: cd,
		ta: blas.NoTrans, tb: blas.NoTrans, lda: k, ldb: n}
	if fused {
		g.fused, g.bias, g.act, g.actAlpha = true, biasd, act, actAlpha
	}
	if transA {
		g.ta, g.lda = blas.Trans, m
	}
	if transB {
		g.tb, g.ldb = blas.Trans, k
	}
	if im := c.gemm; im.tileRows > 0 {
		g.tileRows, g.tileCols = im.tileRows, im.tileCols
	} else {
		// One slab per core along the longer side of C; a product too
		// small to share (see gemmCostScale) is one slab, so that it
		// packs op(B) once and makes one call.
		parts := runtime.GOMAXPROCS(0)
		if m*n*k/gemmCostScale < minParallel {
			parts = 1
		}
		if m >= n {
			g.tileRows, g.tileCols = alignUp((m+parts-1)/parts, im.rowAlign), n
		} else {
			g.tileRows, g.tileCols = m, alignUp((n+parts-1)/parts, im.colAlign)
		}
	}
	g.tilesPerRow = (n + g.tileCols - 1) / g.tileCols
	tiles := (m + g.tileRows - 1) / g.tileRows * g.tilesPerRow
	c.args = kernelArgs{gemm: g, impl: c.gemm.impl}
	if c.gemm.ours {
		for len(c.gemmWS) < tiles {
			c.gemmWS = append(c.gemmWS, new(gemm.Workspace))
		}
		c.args.gemmWS = c.gemmWS
	}
	if g.fused {
		for len(c.gemmEp) < tiles {
			c.gemmEp = append(c.gemmEp, new(gemmEpilogue))
		}
		c.args.gemmEp = c.gemmEp
	}
	c.run(tiles, min(g.tileRows, m)*min(g.tileCols, n)*k/gemmCostScale, gemmRange)
}

func gemmRange(a *kernelArgs, lo, hi int) {
	g := &a.gemm
	for t := lo; t < hi; t++ {
		i0 := t / g.tilesPerRow * g.tileRows
		j0 := t % g.tilesPerRow * g.tileCols
		rows, cols := min(g.tileRows, g.m-i0), min(g.tileCols, g.n-j0)
		aOff := i0 * g.lda // rows of op(A) are rows of A
		if g.ta == blas.Trans {
			aOff = i0 // rows of op(A) are columns of A
		}
		bOff := j0 // columns of op(B) are columns of B
		if g.tb == blas.Trans {
			bOff = j0 * g.ldb // columns of op(B) are rows of B
		}
		// Each tile has its own epilogue value (written by the goroutine
		// that runs the tile), holding the tile's columns of the bias.
		var ep *gemmEpilogue
		if g.fused {
			ep = a.gemmEp[t]
			*ep = gemmEpilogue{act: g.act, alpha: g.actAlpha}
			if g.bias != nil {
				ep.bias = g.bias[j0 : j0+cols]
			}
		}
		if a.gemmWS != nil {
			if ep != nil {
				// diynn's SGEMM applies it block by block, in L1.
				a.gemmWS[t].SgemmEpilogue(g.ta, g.tb, rows, cols, g.k, g.alpha, g.a[aOff:], g.lda, g.b[bOff:], g.ldb, g.beta, g.c[i0*g.n+j0:], g.n, ep)
				continue
			}
			a.gemmWS[t].Sgemm(g.ta, g.tb, rows, cols, g.k, g.alpha, g.a[aOff:], g.lda, g.b[bOff:], g.ldb, g.beta, g.c[i0*g.n+j0:], g.n)
			continue
		}
		a.impl.Sgemm(g.ta, g.tb, rows, cols, g.k, g.alpha, g.a[aOff:], g.lda, g.b[bOff:], g.ldb, g.beta, g.c[i0*g.n+j0:], g.n)
		if ep != nil {
			// Other BLAS: after the tile, while it is still in cache.
			ep.Apply(g.c[i0*g.n+j0:], g.n, rows, cols, 0)
		}
	}
}

// gemmCostScale converts multiply-adds into the pool's cost units, so that
// products under about 256k multiply-adds (a few µs) stay on the calling
// goroutine.
const gemmCostScale = 8

// alignUp rounds n up to a multiple of align.
func alignUp(n, align int) int { return (n + align - 1) / align * align }
