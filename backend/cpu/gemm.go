package cpu

import (
	"runtime"

	"github.com/diynn/diynn/backend"
	"gonum.org/v1/gonum/blas"
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
}

// The BLAS always runs single-threaded on a tile of C, and the backend's
// worker pool runs the tiles in parallel: one pool for every kernel, so that
// BLAS threads never spin while Go workers wait, or the reverse.
//
// Tiles of C handed to gonum's Sgemm one at a time. gonum parallelises a
// call only when it spans 4 or more 64×64 blocks, and then spawns goroutines
// and allocates on every call; a 64×192 tile spans 3, so each tile runs on
// gonum's serial code and our pool supplies the parallelism, allocation-free
// and with every element of C computed the same way whatever the split.
const gemmTileRows, gemmTileCols = 64, 192

// Gemm computes C = alpha·op(A)·op(B) + beta·C through the build's BLAS.
func (c *Backend) Gemm(transA, transB bool, m, n, k int, alpha float32, a, b backend.Buffer, beta float32, cb backend.Buffer) {
	if !c.ok() {
		return
	}
	if m < 0 || n < 0 || k < 0 {
		c.fail("Gemm: negative size m=%d n=%d k=%d", m, n, k)
		return
	}
	ad, bd, cd := c.data(a, m*k, "Gemm", "A"), c.data(b, k*n, "Gemm", "B"), c.data(cb, m*n, "Gemm", "C")
	if c.err != nil || m == 0 || n == 0 {
		return
	}
	if beta == 0 || k == 0 {
		// With beta = 0, C must not be read (it may hold NaN); with k = 0,
		// BLAS may return early without scaling C.
		if beta == 0 {
			clear(cd)
		} else {
			c.Scale(m*n, beta, cb)
		}
		if k == 0 {
			return
		}
		beta = 0
	}
	g := gemmArgs{m: m, n: n, k: k, alpha: alpha, beta: beta, a: ad, b: bd, c: cd,
		ta: blas.NoTrans, tb: blas.NoTrans, lda: k, ldb: n}
	if transA {
		g.ta, g.lda = blas.Trans, m
	}
	if transB {
		g.tb, g.ldb = blas.Trans, k
	}
	if smallGemmTiles {
		g.tileRows, g.tileCols = gemmTileRows, gemmTileCols
	} else {
		// One slab per core along the longer side of C, in multiples of 16
		// so that the BLAS micro-kernels see whole panels.
		parts := runtime.GOMAXPROCS(0)
		if m >= n {
			g.tileRows, g.tileCols = (m/parts+16)/16*16, n
		} else {
			g.tileRows, g.tileCols = m, (n/parts+16)/16*16
		}
	}
	g.tilesPerRow = (n + g.tileCols - 1) / g.tileCols
	tiles := (m + g.tileRows - 1) / g.tileRows * g.tilesPerRow
	c.args = kernelArgs{gemm: g, impl: c.gemm}
	// Cost per tile in multiply-adds, scaled so that products under about
	// a megaflop stay on the calling goroutine.
	c.run(tiles, min(g.tileRows, m)*min(g.tileCols, n)*k/32, gemmRange)
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
		a.impl.Sgemm(g.ta, g.tb, rows, cols, g.k, g.alpha, g.a[aOff:], g.lda, g.b[bOff:], g.ldb, g.beta, g.c[i0*g.n+j0:], g.n)
	}
}
