// Package gemm is diynn's own single-precision matrix product for the CPU
// backend: C = alpha·op(A)·op(B) + beta·C on row-major matrices, in the
// BLIS style — op(B) packed into 16-column panels, op(A) read in place, and
// a micro-kernel that keeps a 6×16 block of C (6×32 with AVX-512) in
// registers.
//
// The micro-kernel is chosen at run time: on amd64, AVX-512 assembly (a
// 6×32 block over two panels) where the CPU has it and AVX2 + FMA
// assembly (6×16) where it has that, and a pure-Go kernel everywhere else
// (arm64 included). Setting DIYNN_GEMM_KERNEL=go in the environment forces
// the pure-Go kernel, =avx2 or =avx512 an assembly one (auto or empty: the
// fastest the CPU has); any other value, or a kernel the CPU cannot run, is
// an error that EnvError reports and the CPU backend refuses to open with.
// Implementation.Kernel and Workspace.Kernel pick one per value, and Best
// reports what Auto runs.
//
// Implementation satisfies gonum's blas.Float32Level3, so blas32.Use can
// install it; only Sgemm is ours, the other Level 3 routines are gonum's.
// One call runs on the calling goroutine: the CPU backend splits a product
// into slabs of C across its own worker pool (see backend/cpu), and every
// element of C is computed the same way whatever the split.
package gemm

import (
	"fmt"
	"os"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Kernel names a micro-kernel.
type Kernel int

const (
	// Auto is the fastest kernel this CPU runs (unless DIYNN_GEMM_KERNEL
	// says otherwise).
	Auto Kernel = iota
	// Go is the portable pure-Go kernel.
	Go
	// AVX2 is the amd64 assembly kernel for CPUs with AVX2 and FMA.
	AVX2
	// AVX512 is the amd64 assembly kernel for CPUs with AVX-512 F; it
	// leaves a product's odd last panel to the AVX2 kernel (same bits).
	AVX512
)

func (k Kernel) String() string {
	switch k {
	case Auto:
		return "auto"
	case Go:
		return "go"
	case AVX2:
		return "avx2"
	case AVX512:
		return "avx512"
	}
	return fmt.Sprintf("Kernel(%d)", int(k))
}

// best is the kernel Auto stands for, decided once from the CPU and the
// environment.
var best, envErr = chooseKernel(os.Getenv("DIYNN_GEMM_KERNEL"))

// chooseKernel reads DIYNN_GEMM_KERNEL's value; on an error it still
// returns the kernel Auto would be without it.
func chooseKernel(env string) (Kernel, error) {
	auto := Go
	if hasAVX2 {
		auto = AVX2
	}
	if hasAVX512 {
		auto = AVX512
	}
	switch env {
	case "", "auto":
		return auto, nil
	case "go":
		return Go, nil
	case "avx2":
		if !hasAVX2 {
			return auto, fmt.Errorf("DIYNN_GEMM_KERNEL=avx2: this CPU lacks AVX2 or FMA")
		}
		return AVX2, nil
	case "avx512":
		if !hasAVX512 {
			return auto, fmt.Errorf("DIYNN_GEMM_KERNEL=avx512: this CPU lacks AVX-512")
		}
		return AVX512, nil
	}
	return auto, fmt.Errorf("DIYNN_GEMM_KERNEL=%q: want auto, go, avx2 or avx512", env)
}

// EnvError reports a DIYNN_GEMM_KERNEL value that names no kernel this CPU
// runs, or nil.
func EnvError() error { return envErr }

// Best returns the kernel that Auto runs on this machine.
func Best() Kernel { return best }

// Kernels returns the kernels this CPU can run, slowest first.
func Kernels() []Kernel {
	ks := []Kernel{Go}
	if hasAVX2 {
		ks = append(ks, AVX2)
	}
	if hasAVX512 {
		ks = append(ks, AVX512)
	}
	return ks
}

// Blocking. A 16-column panel of op(B) with kc rows (16 KiB at kc = 256)
// stays in L1 while the micro-kernel walks mc rows of op(A) (144 KiB at
// most, in L2); nc bounds the packed block of op(B) (1 MiB, in L3).
const (
	mr      = 6
	nr      = 16
	kcBlock = 256
	mcBlock = 144
	ncBlock = 1024
)

// Implementation is gonum's blas.Float32Level3 with Sgemm replaced by
// ours. The zero value uses the best kernel.
type Implementation struct {
	gonum.Implementation
	Kernel Kernel
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C, where op(A) is m×k and
// op(B) is k×n. Like every BLAS, it panics on arguments that break the
// BLAS contract (sizes, leading dimensions, slice lengths). Its packing
// buffers come from a sync.Pool, so concurrent calls are safe.
func (im Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	w := workspaces.Get().(*Workspace)
	w.Kernel = im.Kernel
	w.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	workspaces.Put(w)
}

// Workspace makes products one at a time with packing buffers of its own,
// kept between calls: a caller with one Workspace per goroutine (as the CPU
// backend has, one per slab of C) allocates nothing after the first
// products, even across garbage collections, which empty a sync.Pool. The
// zero value is ready; a Workspace must not be used concurrently.
type Workspace struct {
	// Kernel is the micro-kernel to run; the zero value is Auto.
	Kernel Kernel
	a, b   []float32 // packed blocks of op(A) and op(B)
}

// Sgemm is Implementation.Sgemm on w's buffers.
func (w *Workspace) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	w.SgemmEpilogue(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// Epilogue finishes blocks of C whose values are final: a fused bias and
// activation (the CPU backend's GemmBiasAct). It must work value by value
// (or column by column), since it sees C in blocks.
type Epilogue interface {
	// Apply finishes the rows×cols block of C that starts at c[0], its rows
	// ldc apart; col is the column of C (as given to SgemmEpilogue) of the
	// block's first column.
	Apply(c []float32, ldc, rows, cols, col int)
}

// SgemmEpilogue is Sgemm followed by ep on every value of C (a nil ep does
// nothing). ep runs on each block of at most 6×16 values of C (6×32 with
// the AVX-512 kernel) right after the micro-kernel has stored the block's
// final values, while those 384 (768) bytes are in L1, so the epilogue
// costs no pass over C in memory. (In the micro-kernel's registers would
// save the L1 reloads too, but every activation would then have to be
// written into each kernel; reloading six rows from L1 costs a few cycles
// per 16 values.)
func (w *Workspace) SgemmEpilogue(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep Epilogue) {
	transA, transB := checkTrans(tA), checkTrans(tB)
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	switch {
	case m < 0 || n < 0 || k < 0:
		panic(fmt.Sprintf("gemm: negative size m=%d n=%d k=%d", m, n, k))
	case lda < max(1, colsA):
		panic(fmt.Sprintf("gemm: lda=%d < %d", lda, max(1, colsA)))
	case ldb < max(1, colsB):
		panic(fmt.Sprintf("gemm: ldb=%d < %d", ldb, max(1, colsB)))
	case ldc < max(1, n):
		panic(fmt.Sprintf("gemm: ldc=%d < %d", ldc, max(1, n)))
	case m == 0 || n == 0:
		return
	case rowsA > 0 && colsA > 0 && len(a) < lda*(rowsA-1)+colsA:
		panic(fmt.Sprintf("gemm: A holds %d values, need %d", len(a), lda*(rowsA-1)+colsA))
	case rowsB > 0 && colsB > 0 && len(b) < ldb*(rowsB-1)+colsB:
		panic(fmt.Sprintf("gemm: B holds %d values, need %d", len(b), ldb*(rowsB-1)+colsB))
	case len(c) < ldc*(m-1)+n:
		panic(fmt.Sprintf("gemm: C holds %d values, need %d", len(c), ldc*(m-1)+n))
	}
	kern := w.Kernel
	if kern == Auto {
		kern = best
	}
	if kern == AVX2 && !hasAVX2 {
		panic("gemm: the AVX2 kernel needs a CPU with AVX2 and FMA")
	}
	if kern == AVX512 && !hasAVX512 {
		panic("gemm: the AVX-512 kernel needs a CPU with AVX-512")
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		if ep != nil {
			ep.Apply(c, ldc, m, n, 0)
		}
		return
	}
	w.sgemm(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep)
}

func checkTrans(t blas.Transpose) bool {
	switch t {
	case blas.NoTrans:
		return false
	case blas.Trans, blas.ConjTrans:
		return true
	}
	panic(fmt.Sprintf("gemm: bad transpose %q", rune(t)))
}

// scaleC sets C = beta·C, without reading C when beta is 0 (it may hold NaN).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// workspaces recycles the Workspaces of Implementation.Sgemm.
var workspaces = sync.Pool{New: func() any { return new(Workspace) }}

// maskTable backs the column masks of partial panels: the mask for nr
// columns starts at maskTable[16-nr] (16 lanes on, then 16 off).
var maskTable = [32]int32{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}

func (w *Workspace) sgemm(kern Kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep Epilogue) {
	// op(A)(i, p) = a[i·rsA + p·csA].
	rsA, csA := lda, 1
	if transA {
		rsA, csA = 1, lda
	}
	// Equal k-blocks: 784 runs as 4×196, not 3×256 + 16.
	kc := (k + (k+kcBlock-1)/kcBlock - 1) / ((k + kcBlock - 1) / kcBlock)
	for jc := 0; jc < n; jc += ncBlock {
		nc := min(ncBlock, n-jc)
		panels := (nc + nr - 1) / nr
		// op(A) is read in place: six rows (NN), or six adjacent values of
		// one row per step (TN). With a row length that is a multiple of
		// 1 KiB, those addresses fall into the same few L1 sets and evict
		// each other (1024³ TN ran at half speed), so op(A) is then
		// packed, once its micro-panels serve several panels of op(B).
		packA := panels > 2 && lda%256 == 0
		for pc := 0; pc < k; pc += kc {
			kcur := min(kc, k-pc)
			w.packB(transB, b, ldb, pc, kcur, jc, nc, kern != Go && hasAVX2)
			// The first k-block applies beta; later ones accumulate.
			bet, load := beta, beta != 0
			if pc > 0 {
				bet, load = 1, true
			}
			// The last k-block stores C's final values: the epilogue's turn.
			finish := ep
			if pc+kcur < k {
				finish = nil
			}
			for ic := 0; ic < m; ic += mcBlock {
				mc := min(mcBlock, m-ic)
				ap, rs, cs, aBase := a, rsA, csA, pc*csA
				if packA {
					w.packA(transA, a, lda, ic, mc, pc, kcur)
					ap, rs, cs, aBase = w.a, 1, mr, -ic*kcur
				}
				// The AVX-512 kernel takes panels two at a time (a lone
				// last one goes to the AVX2 kernel), the others one.
				for jp, step := 0, 1; jp < panels; jp += step {
					step = 1
					if kern == AVX512 && jp+1 < panels {
						step = 2
					}
					cols := min(step*nr, nc-jp*nr)
					panel := w.b[jp*kcur*nr : (jp+step)*kcur*nr]
					for i := ic; i < ic+mc; i += mr {
						rows := min(mr, m-i)
						// Packed, micro-panel (i-ic)/6 starts at (i-ic)·kc.
						aOff := aBase + i*rsA
						if packA {
							aOff = (i - ic) * kcur
						}
						cOff := i*ldc + jc + jp*nr
						switch {
						case step == 2:
							kernelAVX512(kcur, &ap[aOff], rs*4, cs*4, &panel[0], kcur*nr*4, &c[cOff], ldc*4, rows, 1<<(cols-nr)-1, alpha, bet, load)
						case kern == AVX2 || kern == AVX512:
							kernelAVX2(kcur, &ap[aOff], rs*4, cs*4, &panel[0], &c[cOff], ldc*4, rows, cols, &maskTable[nr-cols], alpha, bet, load)
						default:
							kernelGo(kcur, ap[aOff:], rs, cs, panel, c[cOff:], ldc, rows, cols, alpha, bet, load)
						}
						if finish != nil {
							finish.Apply(c[cOff:], ldc, rows, cols, jc+jp*nr)
						}
					}
				}
			}
		}
	}
}

// packA copies op(A)[ic:ic+mc, pc:pc+kc] into w.a as micro-panels of 6
// rows, each kc steps of 6 values (fewer in the last one; the kernels never
// read past the rows they are given).
func (w *Workspace) packA(transA bool, a []float32, lda, ic, mc, pc, kc int) {
	need := (mc + mr - 1) / mr * mr * kc
	if cap(w.a) < need {
		w.a = make([]float32, need)
	}
	w.a = w.a[:need]
	full := mc / mr * mr
	if transA {
		// op(A)(i, p) = a[p·lda + i]: step p of every micro-panel comes
		// from one run of A, read once, in order (reading it micro-panel
		// by micro-panel would revisit kc rows lda apart each time).
		for p := 0; p < kc; p++ {
			src := a[(pc+p)*lda+ic : (pc+p)*lda+ic+full]
			for i0 := 0; i0 < full; i0 += mr {
				d, s := (*[mr]float32)(w.a[i0*kc+p*mr:]), (*[mr]float32)(src[i0:])
				// Element by element: an array assignment becomes a
				// memmove call, which costs more than the six moves.
				d[0], d[1], d[2], d[3], d[4], d[5] = s[0], s[1], s[2], s[3], s[4], s[5]
			}
		}
		if rows := mc - full; rows > 0 {
			dst := w.a[full*kc:]
			for p := 0; p < kc; p++ {
				copy(dst[p*mr:p*mr+rows], a[(pc+p)*lda+ic+full:])
			}
		}
		return
	}
	for i0 := 0; i0 < mc; i0 += mr {
		rows := min(mr, mc-i0)
		dst := w.a[i0*kc : i0*kc+mr*kc]
		switch {
		case rows == mr:
			// op(A)(i, p) = a[i·lda + p]: interleave six rows.
			base := (ic+i0)*lda + pc
			r0, r1, r2 := a[base:base+kc], a[base+lda:base+lda+kc], a[base+2*lda:base+2*lda+kc]
			r3, r4, r5 := a[base+3*lda:base+3*lda+kc], a[base+4*lda:base+4*lda+kc], a[base+5*lda:base+5*lda+kc]
			for p := range r0 {
				d := (*[mr]float32)(dst[p*mr:])
				d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
			}
		default:
			for r := 0; r < rows; r++ {
				src := a[(ic+i0+r)*lda+pc : (ic+i0+r)*lda+pc+kc]
				for p, v := range src {
					dst[p*mr+r] = v
				}
			}
		}
	}
}

// packB copies op(B)[pc:pc+kc, jc:jc+nc] into w.b as 16-column panels,
// each kc rows of 16 values, the last one padded with zeros; with avx2,
// B's panels and Bᵀ's full ones move through the AVX2 loops of
// pack_amd64.s (the Go kernel gets the Go loops, so that
// DIYNN_GEMM_KERNEL=go tests them on amd64).
func (w *Workspace) packB(transB bool, b []float32, ldb, pc, kc, jc, nc int, avx2 bool) {
	panels := (nc + nr - 1) / nr
	need := panels * kc * nr
	if cap(w.b) < need {
		w.b = make([]float32, need)
	}
	w.b = w.b[:need]
	full := nc / nr
	if !transB {
		// op(B)(p, j) = b[p·ldb + j]: each row of B is read once, in
		// order, and dealt out to the panels. (Panel by panel, a large B
		// is read 64 bytes a row, a page apart: TLB misses made packing a
		// quarter of a 1024³ product.)
		if avx2 && full > 0 {
			_ = b[(pc+kc-1)*ldb+jc+full*nr-1] // the last value the loop reads
			packRowsAVX2(&w.b[0], &b[pc*ldb+jc], kc, ldb, full, kc)
		} else {
			for p := 0; p < kc; p++ {
				row := b[(pc+p)*ldb+jc : (pc+p)*ldb+jc+full*nr]
				for jp := 0; jp < full; jp++ {
					copy16((*[nr]float32)(w.b[jp*kc*nr+p*nr:]), (*[nr]float32)(row[jp*nr:]))
				}
			}
		}
	}
	for jp := 0; jp < panels; jp++ {
		panel := w.b[jp*kc*nr : (jp+1)*kc*nr]
		j0 := jc + jp*nr
		cols := min(nr, jc+nc-j0)
		if !transB {
			if cols == nr {
				continue // packed above
			}
			// A partial panel (an output of 10 columns, say): with AVX2,
			// masked loads of its columns. Otherwise, where B has 16 values
			// left from the row's start, a row moves as 16 (the extra ones
			// are B's next values, overwritten with zeros); only the last
			// rows need a short copy.
			if avx2 {
				_ = b[(pc+kc-1)*ldb+j0+cols-1] // the last value the loop reads
				packPartialAVX2(&panel[0], &b[pc*ldb+j0], kc, ldb, &maskTable[nr-cols])
				continue
			}
			p := 0
			for ; p < kc && (pc+p)*ldb+j0+nr <= len(b); p++ {
				dst := (*[nr]float32)(panel[p*nr:])
				copy16(dst, (*[nr]float32)(b[(pc+p)*ldb+j0:]))
				for j := cols; j < nr; j++ {
					dst[j] = 0
				}
			}
			for ; p < kc; p++ {
				dst := panel[p*nr : p*nr+nr]
				copy(dst, b[(pc+p)*ldb+j0:(pc+p)*ldb+j0+cols])
				clear(dst[cols:])
			}
			continue
		}
		// op(B)(p, j) = b[j·ldb + p]: columns of the panel are
		// contiguous runs of B.
		if cols == nr {
			// Sixteen runs read side by side, the panel written in order;
			// with AVX2, eight values of each at a time (8×8 transposes).
			var rs [nr][]float32
			for j := range rs {
				rs[j] = b[(j0+j)*ldb+pc : (j0+j)*ldb+pc+kc]
			}
			p := 0
			if avx2 && kc >= 8 {
				packTransAVX2(&panel[0], &rs[0][0], ldb, kc/8)
				p = kc &^ 7
			}
			for ; p < kc; p++ {
				d := (*[nr]float32)(panel[p*nr:])
				d[0], d[1], d[2], d[3] = rs[0][p], rs[1][p], rs[2][p], rs[3][p]
				d[4], d[5], d[6], d[7] = rs[4][p], rs[5][p], rs[6][p], rs[7][p]
				d[8], d[9], d[10], d[11] = rs[8][p], rs[9][p], rs[10][p], rs[11][p]
				d[12], d[13], d[14], d[15] = rs[12][p], rs[13][p], rs[14][p], rs[15][p]
			}
			continue
		}
		if cols < nr {
			clear(panel)
		}
		for j := 0; j < cols; j++ {
			src := b[(j0+j)*ldb+pc : (j0+j)*ldb+pc+kc]
			for p, v := range src {
				panel[p*nr+j] = v
			}
		}
	}
}

// kernelGo is the portable micro-kernel, with the same contract as the
// assembly ones: C[0:rows, 0:cols] = alpha·(op(A) block · panel) + beta·C,
// reading C only when loadC; a holds op(A)(i, p) at i·rs + p·cs; rows
// past the end of op(A) are never read.
//
// It works on 2×4 blocks: eight accumulators in local variables, which
// the compiler keeps in registers even on amd64 (16 float registers), and
// six loads for eight multiply-adds. On amd64 it ran at 2.3-3.7 GFLOP/s:
// a 6×16 array of accumulators in memory ran at 1.1, 2×8 blocks (spilled
// on amd64) at 1.4-1.9. It is the kernel for CPUs without AVX2; gonum's
// Sgemm, with its SSE assembly, reaches 10-14 on amd64, and 3.8-5.2 built
// with -tags noasm, its pure-Go path (what arm64 runs).
func kernelGo(k int, a []float32, rs, cs int, panel, c []float32, ldc, rows, cols int, alpha, beta float32, loadC bool) {
	var acc [mr][nr]float32
	for i := 0; i < rows; i += 2 {
		i1 := min(i+1, rows-1) // an odd last row is computed twice, stored once
		a0, a1 := a[i*rs:], a[i1*rs:]
		for jq := 0; jq < cols; jq += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			for p := 0; p < k; p++ {
				b := (*[4]float32)(panel[p*nr+jq:])
				x, y := a0[p*cs], a1[p*cs]
				c00 += x * b[0]
				c01 += x * b[1]
				c02 += x * b[2]
				c03 += x * b[3]
				c10 += y * b[0]
				c11 += y * b[1]
				c12 += y * b[2]
				c13 += y * b[3]
			}
			acc[i][jq], acc[i][jq+1], acc[i][jq+2], acc[i][jq+3] = c00, c01, c02, c03
			acc[i1][jq], acc[i1][jq+1], acc[i1][jq+2], acc[i1][jq+3] = c10, c11, c12, c13
		}
	}
	for i := 0; i < rows; i++ {
		ci := c[i*ldc : i*ldc+cols]
		for j := range ci {
			v := alpha * acc[i][j]
			if loadC {
				v += beta * ci[j]
			}
			ci[j] = v
		}
	}
}

// copy16 copies 16 values one by one: an array assignment or copy becomes
// a memmove call, which costs more than the moves themselves.
func copy16(d, s *[nr]float32) {
	d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15] = s[8], s[9], s[10], s[11], s[12], s[13], s[14], s[15]
}
