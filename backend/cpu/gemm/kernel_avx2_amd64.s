// The AVX2 + FMA micro-kernel: a 6×16 block of C held in twelve ymm
// registers (Y0–Y11, two per row), op(A) read in place through six row
// pointers and a shared offset, op(B) read from a packed 16-wide panel.
//
// Written by hand rather than with a generator: it is one loop body
// repeated by a macro and one epilogue, short enough to read in full.

#include "textflag.h"
#include "rows_amd64.h"

// STEP is one k: two 8-wide loads of the B panel, six broadcasts of A
// (alternating Y14/Y15 so that consecutive rows do not wait on one
// register), twelve FMAs. b0/b1 are the panel's byte offsets for this k.
#define STEP(b0, b1) \
	VMOVUPS      b0(BX), Y12;           \
	VMOVUPS      b1(BX), Y13;           \
	VBROADCASTSS (R8)(AX*1), Y14;       \
	VFMADD231PS  Y12, Y14, Y0;          \
	VFMADD231PS  Y13, Y14, Y1;          \
	VBROADCASTSS (R9)(AX*1), Y15;       \
	VFMADD231PS  Y12, Y15, Y2;          \
	VFMADD231PS  Y13, Y15, Y3;          \
	VBROADCASTSS (R10)(AX*1), Y14;      \
	VFMADD231PS  Y12, Y14, Y4;          \
	VFMADD231PS  Y13, Y14, Y5;          \
	VBROADCASTSS (R11)(AX*1), Y15;      \
	VFMADD231PS  Y12, Y15, Y6;          \
	VFMADD231PS  Y13, Y15, Y7;          \
	VBROADCASTSS (R12)(AX*1), Y14;      \
	VFMADD231PS  Y12, Y14, Y8;          \
	VFMADD231PS  Y13, Y14, Y9;          \
	VBROADCASTSS (R13)(AX*1), Y15;      \
	VFMADD231PS  Y12, Y15, Y10;         \
	VFMADD231PS  Y13, Y15, Y11;         \
	ADDQ         DX, AX

// Row stores, C row at DI; Y15 holds beta, Y12/Y13 the column masks.
#define ROW_FULL(r0, r1) \
	VMOVUPS r0, (DI); \
	VMOVUPS r1, 32(DI)

#define ROW_FULL_LOAD(r0, r1) \
	VFMADD231PS (DI), Y15, r0;   \
	VFMADD231PS 32(DI), Y15, r1; \
	VMOVUPS     r0, (DI);        \
	VMOVUPS     r1, 32(DI)

// Partial rows. Masked moves are slow (a masked store costs several
// plain ones on Zen 3), so only the half that is partial is masked: with
// more than 8 columns the first 8 are stored whole (HI), with 8 or fewer
// the second half is not touched at all (LO).
#define ROW_HI(r0, r1) \
	VMOVUPS    r0, (DI);          \
	VMASKMOVPS r1, Y13, 32(DI)

#define ROW_HI_LOAD(r0, r1) \
	VFMADD231PS (DI), Y15, r0;    \
	VMASKMOVPS  32(DI), Y13, Y14; \
	VFMADD231PS Y14, Y15, r1;     \
	VMOVUPS     r0, (DI);         \
	VMASKMOVPS  r1, Y13, 32(DI)

#define ROW_LO(r0, r1) \
	VMASKMOVPS r0, Y12, (DI)

#define ROW_LO_LOAD(r0, r1) \
	VMASKMOVPS  (DI), Y12, Y14; \
	VFMADD231PS Y14, Y15, r0;   \
	VMASKMOVPS  r0, Y12, (DI)

// The six rows of a store path (rows_amd64.h).
#define ROWS(ROW, done) ROWS6(ROW, done, Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11)

// func kernelAVX2(k int, a *float32, rs, cs int, b *float32, c *float32, ldc int, mr, nr int, mask *int32, alpha, beta float32, loadC bool)
TEXT ·kernelAVX2(SB), NOSPLIT, $0-89
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), R8
	MOVQ rs+16(FP), R14
	MOVQ cs+24(FP), DX
	MOVQ b+32(FP), BX
	MOVQ mr+56(FP), SI

	// Fetch C's rows while the products run: at the end they are needed
	// at once, and a block of a large C is usually not in cache.
	MOVQ     c+40(FP), DI
	MOVQ     ldc+48(FP), AX
	PREFETCHT0 (DI)
	PREFETCHT0 60(DI)
	ADDQ     AX, DI
	PREFETCHT0 (DI)
	PREFETCHT0 60(DI)
	ADDQ     AX, DI
	PREFETCHT0 (DI)
	PREFETCHT0 60(DI)
	ADDQ     AX, DI
	PREFETCHT0 (DI)
	PREFETCHT0 60(DI)
	ADDQ     AX, DI
	PREFETCHT0 (DI)
	PREFETCHT0 60(DI)
	ADDQ     AX, DI
	PREFETCHT0 (DI)
	PREFETCHT0 60(DI)

	ROW_POINTERS(SI)

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	XORQ   AX, AX
	MOVQ   CX, R14
	SHRQ   $2, R14
	JZ     tail

loop4:
	STEP(0, 32)
	STEP(64, 96)
	STEP(128, 160)
	STEP(192, 224)
	ADDQ $256, BX
	DECQ R14
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   store

loop1:
	STEP(0, 32)
	ADDQ $64, BX
	DECQ CX
	JNZ  loop1

store:
	MOVQ         c+40(FP), DI
	MOVQ         ldc+48(FP), SI
	MOVQ         mr+56(FP), CX
	MOVQ         nr+64(FP), R8
	MOVQ         mask+72(FP), R9
	MOVBLZX      loadC+88(FP), DX
	VBROADCASTSS alpha+80(FP), Y14
	VBROADCASTSS beta+84(FP), Y15
	VMULPS       Y14, Y0, Y0
	VMULPS       Y14, Y1, Y1
	VMULPS       Y14, Y2, Y2
	VMULPS       Y14, Y3, Y3
	VMULPS       Y14, Y4, Y4
	VMULPS       Y14, Y5, Y5
	VMULPS       Y14, Y6, Y6
	VMULPS       Y14, Y7, Y7
	VMULPS       Y14, Y8, Y8
	VMULPS       Y14, Y9, Y9
	VMULPS       Y14, Y10, Y10
	VMULPS       Y14, Y11, Y11
	CMPQ         R8, $16
	JNE          partial
	TESTQ        DX, DX
	JNZ          fullLoad
	ROWS(ROW_FULL, done)

fullLoad:
	ROWS(ROW_FULL_LOAD, done)

partial:
	// Masked loads and stores touch only the first nr columns; masked-out
	// lanes neither fault nor change memory.
	VMOVDQU (R9), Y12
	VMOVDQU 32(R9), Y13
	CMPQ    R8, $8
	JLE     lo
	TESTQ   DX, DX
	JNZ     hiLoad
	ROWS(ROW_HI, done)

hiLoad:
	ROWS(ROW_HI_LOAD, done)

lo:
	TESTQ DX, DX
	JNZ   loLoad
	ROWS(ROW_LO, done)

loLoad:
	ROWS(ROW_LO_LOAD, done)

done:
	VZEROUPPER
	RET
