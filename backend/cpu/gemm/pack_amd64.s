// Packing loops for op(B)'s 16-column panels (see packB): plain row
// copies for B as stored (NN), 8×8 transposes for Bᵀ (NT), and masked
// loads for B's partial panels, where the Go loops moved one float at a
// time (0.47 and 0.73 ns a value for full panels, a tenth of a training
// epoch).

#include "textflag.h"

// func packRowsAVX2(dst, src *float32, rows, ldb, panels, kc int)
// For p < rows and jp < panels: dst[jp·kc·16 + p·16 : +16] = src[p·ldb + jp·16 : +16].
TEXT ·packRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ ldb+24(FP), R8
	SHLQ $2, R8          // row stride of src, bytes
	MOVQ panels+32(FP), R9
	MOVQ kc+40(FP), R10
	SHLQ $6, R10         // panel stride of dst, bytes
	TESTQ CX, CX
	JZ    rowsDone
	TESTQ R9, R9
	JZ    rowsDone

rowLoop:
	MOVQ SI, R11
	MOVQ DI, R12
	MOVQ R9, DX

panelLoop:
	VMOVUPS (R11), Y0
	VMOVUPS 32(R11), Y1
	VMOVUPS Y0, (R12)
	VMOVUPS Y1, 32(R12)
	ADDQ    $64, R11
	ADDQ    R10, R12
	DECQ    DX
	JNZ     panelLoop
	ADDQ    R8, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     rowLoop

rowsDone:
	VZEROUPPER
	RET

// TRANS8 transposes the 8×8 block of floats whose rows start at R13 + r·R8
// (r < 8; R14 = R13 + 4·R8, R15 = 3·R8) into eight 8-value rows at
// DI + off + r·64.
#define TRANS8(off) \
	VMOVUPS    (R13), Y0;          \
	VMOVUPS    (R13)(R8*1), Y1;    \
	VMOVUPS    (R13)(R8*2), Y2;    \
	VMOVUPS    (R13)(R15*1), Y3;   \
	VMOVUPS    (R14), Y4;          \
	VMOVUPS    (R14)(R8*1), Y5;    \
	VMOVUPS    (R14)(R8*2), Y6;    \
	VMOVUPS    (R14)(R15*1), Y7;   \
	VUNPCKLPS  Y1, Y0, Y8;         \
	VUNPCKHPS  Y1, Y0, Y9;         \
	VUNPCKLPS  Y3, Y2, Y10;        \
	VUNPCKHPS  Y3, Y2, Y11;        \
	VUNPCKLPS  Y5, Y4, Y12;        \
	VUNPCKHPS  Y5, Y4, Y13;        \
	VUNPCKLPS  Y7, Y6, Y14;        \
	VUNPCKHPS  Y7, Y6, Y15;        \
	VSHUFPS    $0x44, Y10, Y8, Y0; \
	VSHUFPS    $0xEE, Y10, Y8, Y1; \
	VSHUFPS    $0x44, Y11, Y9, Y2; \
	VSHUFPS    $0xEE, Y11, Y9, Y3; \
	VSHUFPS    $0x44, Y14, Y12, Y4; \
	VSHUFPS    $0xEE, Y14, Y12, Y5; \
	VSHUFPS    $0x44, Y15, Y13, Y6; \
	VSHUFPS    $0xEE, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8;  \
	VPERM2F128 $0x20, Y5, Y1, Y9;  \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y15; \
	VMOVUPS    Y8, off(DI);        \
	VMOVUPS    Y9, off+64(DI);     \
	VMOVUPS    Y10, off+128(DI);   \
	VMOVUPS    Y11, off+192(DI);   \
	VMOVUPS    Y12, off+256(DI);   \
	VMOVUPS    Y13, off+320(DI);   \
	VMOVUPS    Y14, off+384(DI);   \
	VMOVUPS    Y15, off+448(DI)

// func packTransAVX2(dst, src *float32, ldb, blocks int)
// One full panel of Bᵀ: for j < 16 and p < 8·blocks, dst[p·16 + j] = src[j·ldb + p].
TEXT ·packTransAVX2(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  ldb+16(FP), R8
	SHLQ  $2, R8            // row stride, bytes
	MOVQ  blocks+24(FP), CX
	LEAQ  (R8)(R8*2), R15   // 3 rows
	MOVQ  R8, R10
	SHLQ  $3, R10           // 8 rows: the panel's second half
	TESTQ CX, CX
	JZ    transDone

transLoop:
	// Columns 0-7 of the panel from rows 0-7 of src, then 8-15 from 8-15.
	MOVQ SI, R13
	LEAQ (R13)(R8*4), R14
	TRANS8(0)
	ADDQ R10, R13
	LEAQ (R13)(R8*4), R14
	TRANS8(32)
	ADDQ $32, SI  // the next 8 values of each row
	ADDQ $512, DI // the next 8 rows of the panel
	DECQ CX
	JNZ  transLoop

transDone:
	VZEROUPPER
	RET

// func packPartialAVX2(dst, src *float32, rows, ldb int, mask *int32)
// A partial panel of B: for p < rows, dst[p·16 : +16] = the first cols
// values of src[p·ldb:], then zeros, with mask = &maskTable[16-cols]. The
// masked loads neither read past the cols values nor fault.
TEXT ·packPartialAVX2(SB), NOSPLIT, $0-40
	MOVQ    dst+0(FP), DI
	MOVQ    src+8(FP), SI
	MOVQ    rows+16(FP), CX
	MOVQ    ldb+24(FP), R8
	SHLQ    $2, R8 // row stride, bytes
	MOVQ    mask+32(FP), R9
	VMOVDQU (R9), Y14
	VMOVDQU 32(R9), Y15
	TESTQ   CX, CX
	JZ      partialDone

partialLoop:
	VMASKMOVPS (SI), Y14, Y0
	VMASKMOVPS 32(SI), Y15, Y1
	VMOVUPS    Y0, (DI)
	VMOVUPS    Y1, 32(DI)
	ADDQ       R8, SI
	ADDQ       $64, DI
	DECQ       CX
	JNZ        partialLoop

partialDone:
	VZEROUPPER
	RET
