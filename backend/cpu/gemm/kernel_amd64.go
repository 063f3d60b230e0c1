package gemm

import "golang.org/x/sys/cpu"

// hasAVX2 reports whether the AVX2 kernel can run: it needs AVX2 and FMA
// (cpu.X86.HasAVX2 already implies that the OS saves the ymm registers).
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// hasAVX512 reports whether the AVX-512 kernel can run: AVX-512 F (which
// x/sys/cpu reports only when the OS saves the zmm and mask registers), and
// the AVX2 kernel for the panels it leaves.
var hasAVX512 = cpu.X86.HasAVX512F && hasAVX2

// kernelAVX2 is the 6×16 AVX2 micro-kernel (kernel_avx2_amd64.s): the
// contract of kernelGo, with strides in bytes and mask pointing at
// maskTable[16-nr].
//
//go:noescape
func kernelAVX2(k int, a *float32, rs, cs int, b *float32, c *float32, ldc int, mr, nr int, mask *int32, alpha, beta float32, loadC bool)

// kernelAVX512 is the 6×32 AVX-512 micro-kernel (kernel_avx512_amd64.s)
// over two panels, the second pstride bytes after the first: the contract
// of kernelGo for 17 to 32 columns, with strides in bytes and hiMask's
// low 16 bits marking the second panel's columns.
//
//go:noescape
func kernelAVX512(k int, a *float32, rs, cs int, b *float32, pstride int, c *float32, ldc int, mr int, hiMask int, alpha, beta float32, loadC bool)

// packRowsAVX2 and packTransAVX2 are packB's loops for full panels
// (pack_amd64.s); the Go loops in packB state what they compute.
//
//go:noescape
func packRowsAVX2(dst, src *float32, rows, ldb, panels, kc int)

//go:noescape
func packTransAVX2(dst, src *float32, ldb, blocks int)

//go:noescape
func packPartialAVX2(dst, src *float32, rows, ldb int, mask *int32)
