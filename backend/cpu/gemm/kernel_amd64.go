package gemm

import "golang.org/x/sys/cpu"

// hasAVX2 reports whether the AVX2 kernel can run: it needs AVX2 and FMA
// (cpu.X86.HasAVX2 already implies that the OS saves the ymm registers).
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernelAVX2 is the 6×16 AVX2 micro-kernel (kernel_avx2_amd64.s): the
// contract of kernelGo, with strides in bytes and mask pointing at
// maskTable[16-nr].
//
//go:noescape
func kernelAVX2(k int, a *float32, rs, cs int, b *float32, c *float32, ldc int, mr, nr int, mask *int32, alpha, beta float32, loadC bool)
