// AVX2 + FMA kernels for the two loops that cost the most per iteration:
// the attraction over a row of P (a gather of the neighbours' coordinates)
// and the near field's exact pairs (a run of consecutive points). Four
// pairs per step in four lanes; each lane sums its own pairs in order and
// the lanes are added in a fixed order at the end, so a result depends on
// the data alone. Both handle a multiple of 4 pairs; the caller does the
// rest (pairs.go).

#include "textflag.h"

DATA one<>+0(SB)/8, $1.0
GLOBL one<>(SB), RODATA|NOPTR, $8

// HSUM adds the four lanes of y into the low lane of x: (l0+l2)+(l1+l3).
#define HSUM(y, x, t) \
	VEXTRACTF128 $1, y, t; \
	VADDPD       t, x, x;  \
	VPERMILPD    $1, x, t; \
	VADDSD       t, x, x

// func attractRow2AVX2(y *float64, col *int32, val *float64, n int, y0, y1 float64) (gx, gy float64)
TEXT ·attractRow2AVX2(SB), NOSPLIT, $0-64
	MOVQ         y+0(FP), SI
	MOVQ         col+8(FP), DI
	MOVQ         val+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSD y0+32(FP), Y0
	VBROADCASTSD y1+40(FP), Y1
	VXORPD       Y2, Y2, Y2        // Σ m·dx
	VXORPD       Y3, Y3, Y3        // Σ m·dy
	VBROADCASTSD one<>(SB), Y4
	VPCMPEQD     Y5, Y5, Y5        // the gathers' mask: every lane

attractLoop:
	CMPQ        CX, $4
	JLT         attractDone
	VMOVDQU     (DI), X6           // four columns
	VPADDD      X6, X6, X6         // 2·col: the x coordinate's index
	VMOVDQA     Y5, Y7
	VGATHERDPD  Y7, (SI)(X6*8), Y8 // y[2c]
	VMOVDQA     Y5, Y7
	VGATHERDPD  Y7, 8(SI)(X6*8), Y9 // y[2c+1]
	VSUBPD      Y8, Y0, Y8         // dx = y0 - y[2c]
	VSUBPD      Y9, Y1, Y9         // dy
	VMOVAPD     Y4, Y10
	VFMADD231PD Y8, Y8, Y10        // 1 + dx²
	VFMADD231PD Y9, Y9, Y10        // + dy²
	VMOVUPD     (DX), Y11
	VDIVPD      Y10, Y11, Y11      // m = p / (1 + r²)
	VFMADD231PD Y11, Y8, Y2
	VFMADD231PD Y11, Y9, Y3
	ADDQ        $16, DI
	ADDQ        $32, DX
	SUBQ        $4, CX
	JMP         attractLoop

attractDone:
	HSUM(Y2, X2, X12)
	HSUM(Y3, X3, X12)
	VMOVSD X2, gx+48(FP)
	VMOVSD X3, gy+56(FP)
	VZEROUPPER
	RET

// func nearRow2AVX2(ys *float64, n int, yx, yy float64) (z, fx, fy float64)
TEXT ·nearRow2AVX2(SB), NOSPLIT, $0-56
	MOVQ         ys+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSD yx+16(FP), Y0
	VBROADCASTSD yy+24(FP), Y1
	VXORPD       Y2, Y2, Y2        // Σ q
	VXORPD       Y3, Y3, Y3        // Σ q²·dx
	VXORPD       Y5, Y5, Y5        // Σ q²·dy
	VBROADCASTSD one<>(SB), Y4

nearLoop:
	CMPQ        CX, $4
	JLT         nearDone
	VMOVUPD     (SI), Y6           // x0 y0 x1 y1
	VMOVUPD     32(SI), Y7         // x2 y2 x3 y3
	VUNPCKLPD   Y7, Y6, Y8         // x0 x2 x1 x3
	VUNPCKHPD   Y7, Y6, Y9         // y0 y2 y1 y3
	VSUBPD      Y8, Y0, Y8         // dx
	VSUBPD      Y9, Y1, Y9         // dy
	VMOVAPD     Y4, Y10
	VFMADD231PD Y8, Y8, Y10
	VFMADD231PD Y9, Y9, Y10        // 1 + r²
	VDIVPD      Y10, Y4, Y11       // q
	VADDPD      Y11, Y2, Y2
	VMULPD      Y11, Y11, Y11      // q²
	VFMADD231PD Y11, Y8, Y3
	VFMADD231PD Y11, Y9, Y5
	ADDQ        $64, SI
	SUBQ        $4, CX
	JMP         nearLoop

nearDone:
	HSUM(Y2, X2, X12)
	HSUM(Y3, X3, X12)
	HSUM(Y5, X5, X12)
	VMOVSD X2, z+32(FP)
	VMOVSD X3, fx+40(FP)
	VMOVSD X5, fy+48(FP)
	VZEROUPPER
	RET

// func matVec28AVX2(mat *float64, src *float64, n int, acc *float64)
// acc[0:28] += Σ_{s<n} src[s]·mat[28s : 28s+28], acc held in Y0-Y6.
TEXT ·matVec28AVX2(SB), NOSPLIT, $0-32
	MOVQ    mat+0(FP), SI
	MOVQ    src+8(FP), DI
	MOVQ    n+16(FP), CX
	MOVQ    acc+24(FP), DX
	VMOVUPD (DX), Y0
	VMOVUPD 32(DX), Y1
	VMOVUPD 64(DX), Y2
	VMOVUPD 96(DX), Y3
	VMOVUPD 128(DX), Y4
	VMOVUPD 160(DX), Y5
	VMOVUPD 192(DX), Y6

matVecLoop:
	TESTQ        CX, CX
	JZ           matVecDone
	VBROADCASTSD (DI), Y7
	VFMADD231PD  (SI), Y7, Y0
	VFMADD231PD  32(SI), Y7, Y1
	VFMADD231PD  64(SI), Y7, Y2
	VFMADD231PD  96(SI), Y7, Y3
	VFMADD231PD  128(SI), Y7, Y4
	VFMADD231PD  160(SI), Y7, Y5
	VFMADD231PD  192(SI), Y7, Y6
	ADDQ         $224, SI
	ADDQ         $8, DI
	DECQ         CX
	JMP          matVecLoop

matVecDone:
	VMOVUPD Y0, (DX)
	VMOVUPD Y1, 32(DX)
	VMOVUPD Y2, 64(DX)
	VMOVUPD Y3, 96(DX)
	VMOVUPD Y4, 128(DX)
	VMOVUPD Y5, 160(DX)
	VMOVUPD Y6, 192(DX)
	VZEROUPPER
	RET
