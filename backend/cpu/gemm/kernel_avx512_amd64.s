// The AVX-512 micro-kernel: a 6×32 block of C held in twelve zmm
// registers (Z0–Z11, two per row) over two adjacent 16-wide panels of the
// packed op(B), op(A) read in place through six row pointers as in the
// AVX2 kernel. Each value of C is summed in the same order as there (one
// FMA per k, then alpha, then beta·C), so the two kernels agree bit for
// bit and a product may mix them (the AVX2 one takes a lone last panel).

#include "textflag.h"
#include "rows_amd64.h"

// STEP is one k: a 16-wide load from each panel (BX, SI), six broadcasts
// of A (alternating Z30/Z31), twelve FMAs. off is the panels' byte offset.
#define STEP(off) \
	VMOVUPS      off(BX), Z28;       \
	VMOVUPS      off(SI), Z29;       \
	VBROADCASTSS (R8)(AX*1), Z30;    \
	VFMADD231PS  Z28, Z30, Z0;       \
	VFMADD231PS  Z29, Z30, Z1;       \
	VBROADCASTSS (R9)(AX*1), Z31;    \
	VFMADD231PS  Z28, Z31, Z2;       \
	VFMADD231PS  Z29, Z31, Z3;       \
	VBROADCASTSS (R10)(AX*1), Z30;   \
	VFMADD231PS  Z28, Z30, Z4;       \
	VFMADD231PS  Z29, Z30, Z5;       \
	VBROADCASTSS (R11)(AX*1), Z31;   \
	VFMADD231PS  Z28, Z31, Z6;       \
	VFMADD231PS  Z29, Z31, Z7;       \
	VBROADCASTSS (R12)(AX*1), Z30;   \
	VFMADD231PS  Z28, Z30, Z8;       \
	VFMADD231PS  Z29, Z30, Z9;       \
	VBROADCASTSS (R13)(AX*1), Z31;   \
	VFMADD231PS  Z28, Z31, Z10;      \
	VFMADD231PS  Z29, Z31, Z11;      \
	ADDQ         DX, AX

// PREFETCH_ROW fetches the row of C at DI (128 bytes, up to three lines)
// and moves DI on by AX, C's row stride.
#define PREFETCH_ROW \
	PREFETCHT0 (DI);    \
	PREFETCHT0 64(DI);  \
	PREFETCHT0 124(DI); \
	ADDQ       AX, DI

// Row stores, C row at DI; Z15 holds beta, K1 the mask of the second
// panel's columns. AVX-512 masked moves cost what plain ones do and never
// touch (or fault on) masked-out lanes, so one path serves 17–32 columns.
#define ROW(r0, r1) \
	VMOVUPS r0, (DI); \
	VMOVUPS r1, K1, 64(DI)

#define ROW_LOAD(r0, r1) \
	VFMADD231PS (DI), Z15, r0;   \
	VMOVUPS.Z   64(DI), K1, Z14; \
	VFMADD231PS Z14, Z15, r1;    \
	VMOVUPS     r0, (DI);        \
	VMOVUPS     r1, K1, 64(DI)

// The six rows of a store path (rows_amd64.h).
#define ROWS(ROW, done) ROWS6(ROW, done, Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11)

// func kernelAVX512(k int, a *float32, rs, cs int, b *float32, pstride int, c *float32, ldc int, mr int, hiMask int, alpha, beta float32, loadC bool)
TEXT ·kernelAVX512(SB), NOSPLIT, $0-89
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), R8
	MOVQ rs+16(FP), R14
	MOVQ cs+24(FP), DX
	MOVQ b+32(FP), BX
	MOVQ BX, SI
	ADDQ pstride+40(FP), SI
	MOVQ mr+64(FP), R15

	// Fetch C's rows while the products run.
	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), AX
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW
	PREFETCH_ROW

	ROW_POINTERS(R15)

	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	XORQ   AX, AX
	MOVQ   CX, R14
	SHRQ   $2, R14
	JZ     tail

loop4:
	STEP(0)
	STEP(64)
	STEP(128)
	STEP(192)
	ADDQ $256, BX
	ADDQ $256, SI
	DECQ R14
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   store

loop1:
	STEP(0)
	ADDQ $64, BX
	ADDQ $64, SI
	DECQ CX
	JNZ  loop1

store:
	MOVQ         c+48(FP), DI
	MOVQ         ldc+56(FP), SI
	MOVQ         mr+64(FP), CX
	MOVQ         hiMask+72(FP), R9
	KMOVW        R9, K1
	MOVBLZX      loadC+88(FP), DX
	VBROADCASTSS alpha+80(FP), Z14
	VBROADCASTSS beta+84(FP), Z15
	VMULPS       Z14, Z0, Z0
	VMULPS       Z14, Z1, Z1
	VMULPS       Z14, Z2, Z2
	VMULPS       Z14, Z3, Z3
	VMULPS       Z14, Z4, Z4
	VMULPS       Z14, Z5, Z5
	VMULPS       Z14, Z6, Z6
	VMULPS       Z14, Z7, Z7
	VMULPS       Z14, Z8, Z8
	VMULPS       Z14, Z9, Z9
	VMULPS       Z14, Z10, Z10
	VMULPS       Z14, Z11, Z11
	TESTQ        DX, DX
	JNZ          load
	ROWS(ROW, done)

load:
	ROWS(ROW_LOAD, done)

done:
	VZEROUPPER
	RET
