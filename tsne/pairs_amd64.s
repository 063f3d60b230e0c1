// AVX2 + FMA kernels for the loops that cost the most in a 2-D map
// (pairs.go): the attraction over a row of P (a gather of the neighbours'
// coordinates), the near field's exact pairs (runs of consecutive points),
// its grid correction and the exact kNN's scan. Four pairs per step in
// four lanes; each lane sums its own pairs in order and the lanes are
// added in a fixed order at the end, so a result depends on the data
// alone. A row's or run's last 1-3 pairs take masked lanes.

#include "textflag.h"

DATA one<>+0(SB)/8, $1.0
GLOBL one<>(SB), RODATA|NOPTR, $8

// far stands in for the coordinates of missing lanes in a run's last
// step: 1/(1+r²) underflows to 0 for it, so the lane adds exactly 0.
DATA far<>+0(SB)/8, $1e300
GLOBL far<>(SB), RODATA|NOPTR, $8

// mask64 is eight all-ones quadwords then eight zeros: from entry 8-k,
// the first k lanes of a load. mask32 is the same in doublewords (4+4).
DATA mask64<>+0(SB)/8, $-1
DATA mask64<>+8(SB)/8, $-1
DATA mask64<>+16(SB)/8, $-1
DATA mask64<>+24(SB)/8, $-1
DATA mask64<>+32(SB)/8, $-1
DATA mask64<>+40(SB)/8, $-1
DATA mask64<>+48(SB)/8, $-1
DATA mask64<>+56(SB)/8, $-1
DATA mask64<>+64(SB)/8, $0
DATA mask64<>+72(SB)/8, $0
DATA mask64<>+80(SB)/8, $0
DATA mask64<>+88(SB)/8, $0
DATA mask64<>+96(SB)/8, $0
DATA mask64<>+104(SB)/8, $0
DATA mask64<>+112(SB)/8, $0
DATA mask64<>+120(SB)/8, $0
GLOBL mask64<>(SB), RODATA|NOPTR, $128
DATA mask32<>+0(SB)/4, $-1
DATA mask32<>+4(SB)/4, $-1
DATA mask32<>+8(SB)/4, $-1
DATA mask32<>+12(SB)/4, $-1
DATA mask32<>+16(SB)/4, $0
DATA mask32<>+20(SB)/4, $0
DATA mask32<>+24(SB)/4, $0
DATA mask32<>+28(SB)/4, $0
GLOBL mask32<>(SB), RODATA|NOPTR, $32

// HSUM adds the four lanes of y into the low lane of x: (l0+l2)+(l1+l3).
#define HSUM(y, x, t) \
	VEXTRACTF128 $1, y, t; \
	VADDPD       t, x, x;  \
	VPERMILPD    $1, x, t; \
	VADDSD       t, x, x

// ATTRACT is one step of four edges: X6 holds their columns, Y7 the
// gathers' mask, Y8/Y9 the coordinates' defaults, Y11 their P values.
#define ATTRACT \
	VPADDD      X6, X6, X6; \
	VMOVDQA     Y7, Y10;             \
	VGATHERDPD  Y10, (SI)(X6*8), Y8; \
	VGATHERDPD  Y7, 8(SI)(X6*8), Y9; \
	VSUBPD      Y8, Y0, Y8; \
	VSUBPD      Y9, Y1, Y9; \
	VMOVAPD     Y4, Y10;             \
	VFMADD231PD Y8, Y8, Y10; \
	VFMADD231PD Y9, Y9, Y10; \
	VDIVPD      Y10, Y11, Y11; \
	VFMADD231PD Y11, Y8, Y2;         \
	VFMADD231PD Y11, Y9, Y3

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
	VPCMPEQD     Y5, Y5, Y5        // every lane
	VBROADCASTSD far<>(SB), Y13

attractLoop:
	CMPQ    CX, $4
	JLT     attractTail
	VMOVDQU (DI), X6
	VMOVDQA Y5, Y7
	VMOVUPD (DX), Y11
	ATTRACT
	ADDQ    $16, DI
	ADDQ    $32, DX
	SUBQ    $4, CX
	JMP     attractLoop

attractTail:
	// The last 1-3 edges, in masked lanes: the others read nothing, take
	// far coordinates and P = 0, and add 0.
	TESTQ      CX, CX
	JZ         attractDone
	MOVQ       $8, BX
	SUBQ       CX, BX
	LEAQ       mask64<>(SB), R8
	VMOVDQU    (R8)(BX*8), Y7
	LEAQ       mask32<>(SB), R8
	MOVQ       $4, BX
	SUBQ       CX, BX
	VMOVDQU    (R8)(BX*4), X12
	VPMASKMOVD (DI), X12, X6
	VMASKMOVPD (DX), Y7, Y11
	VMOVAPD    Y13, Y8
	VMOVAPD    Y13, Y9
	ATTRACT

attractDone:
	HSUM(Y2, X2, X12)
	HSUM(Y3, X3, X12)
	VMOVSD X2, gx+48(FP)
	VMOVSD X3, gy+56(FP)
	VZEROUPPER
	RET

// NEAR is one step of four points, their coordinates in Y6 (x0 y0 x1 y1)
// and Y7 (x2 y2 x3 y3): the sums of q, q²·dx, q²·dy in Y2, Y3, Y5.
#define NEAR \
	VUNPCKLPD   Y7, Y6, Y8; \
	VUNPCKHPD   Y7, Y6, Y9; \
	VSUBPD      Y8, Y0, Y8; \
	VSUBPD      Y9, Y1, Y9; \
	VMOVAPD     Y4, Y10;      \
	VFMADD231PD Y8, Y8, Y10;  \
	VFMADD231PD Y9, Y9, Y10; \
	VDIVPD      Y10, Y4, Y11; \
	VADDPD      Y11, Y2, Y2;  \
	VMULPD      Y11, Y11, Y11; \
	VFMADD231PD Y11, Y8, Y3;  \
	VFMADD231PD Y11, Y9, Y5

// SYMFORCES turns NEAR's dx, dy (Y8, Y9) and q² (Y11), in lane order
// points 0 2 1 3, into the four points' pair forces q²·(dx, dy)
// re-interleaved as the points' coordinates are: [fx0 fy0 | fx1 fy1] in
// Y10 and [fx2 fy2 | fx3 fy3] in Y12.
#define SYMFORCES \
	VMULPD    Y11, Y8, Y8; \
	VMULPD    Y11, Y9, Y9; \
	VUNPCKLPD Y9, Y8, Y10; \
	VUNPCKHPD Y9, Y8, Y12

// func nearSym2AVX2(ys *float64, f *float64, runs *int32, nruns int, yx, yy float64) (z, fx, fy float64)
// Σ q, Σ q²·dx and Σ q²·dy over the points of ys (x, y pairs) in the nruns
// runs [runs[2r], runs[2r+1]), q = 1/(1 + dx² + dy²), (dx, dy) = (yx, yy) -
// point; each point of the runs also takes the pair's force on it, the
// opposite of (yx, yy)'s, into f (x, y pairs like ys): f[2j], f[2j+1] -=
// q²·(dx, dy).
TEXT ·nearSym2AVX2(SB), NOSPLIT, $0-72
	MOVQ         ys+0(FP), SI
	MOVQ         f+8(FP), R11
	MOVQ         runs+16(FP), R8
	MOVQ         nruns+24(FP), R9
	VBROADCASTSD yx+32(FP), Y0
	VBROADCASTSD yy+40(FP), Y1
	VXORPD       Y2, Y2, Y2
	VXORPD       Y3, Y3, Y3
	VXORPD       Y5, Y5, Y5
	VBROADCASTSD one<>(SB), Y4
	VBROADCASTSD far<>(SB), Y13
	LEAQ         mask64<>(SB), DX

symRun:
	TESTQ   R9, R9
	JZ      symDone
	MOVLQSX (R8), AX
	MOVLQSX 4(R8), CX
	ADDQ    $8, R8
	DECQ    R9
	SUBQ    AX, CX
	SHLQ    $4, AX
	LEAQ    (SI)(AX*1), DI
	LEAQ    (R11)(AX*1), R10

symLoop:
	CMPQ    CX, $4
	JLT     symTail
	VMOVUPD (DI), Y6
	VMOVUPD 32(DI), Y7
	NEAR
	SYMFORCES
	VMOVUPD (R10), Y6
	VSUBPD  Y10, Y6, Y6
	VMOVUPD Y6, (R10)
	VMOVUPD 32(R10), Y7
	VSUBPD  Y12, Y7, Y7
	VMOVUPD Y7, 32(R10)
	ADDQ    $64, DI
	ADDQ    $64, R10
	SUBQ    $4, CX
	JMP     symLoop

symTail:
	TESTQ      CX, CX
	JLE        symRun
	MOVQ       $8, BX
	SUBQ       CX, BX
	SUBQ       CX, BX
	VMOVDQU    (DX)(BX*8), Y14
	VMOVDQU    32(DX)(BX*8), Y15
	VMASKMOVPD (DI), Y14, Y6
	VMASKMOVPD 32(DI), Y15, Y7
	VBLENDVPD  Y14, Y6, Y13, Y6
	VBLENDVPD  Y15, Y7, Y13, Y7
	NEAR
	SYMFORCES
	VMASKMOVPD (R10), Y14, Y6
	VSUBPD     Y10, Y6, Y6
	VMASKMOVPD Y6, Y14, (R10)
	VMASKMOVPD 32(R10), Y15, Y7
	VSUBPD     Y12, Y7, Y7
	VMASKMOVPD Y7, Y15, 32(R10)
	JMP        symRun

symDone:
	HSUM(Y2, X2, X12)
	HSUM(Y3, X3, X12)
	HSUM(Y5, X5, X12)
	VMOVSD X2, z+48(FP)
	VMOVSD X3, fx+56(FP)
	VMOVSD X5, fy+64(FP)
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

// func firstAtMostAVX2(v *float32, n int, t float32) int
// The index of the first of v[:n] (n a multiple of 8) that is at most t,
// or n: eight comparisons per step.
TEXT ·firstAtMostAVX2(SB), NOSPLIT, $0-32
	MOVQ         v+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS t+16(FP), Y0
	XORQ         AX, AX

scanLoop:
	CMPQ      AX, CX
	JGE       scanNone
	VCMPPS    $0x0d, (SI)(AX*4), Y0, Y1 // t >= v
	VMOVMSKPS Y1, BX
	TESTL     BX, BX
	JNZ       scanFound
	ADDQ      $8, AX
	JMP       scanLoop

scanFound:
	BSFL BX, BX
	ADDQ BX, AX

scanNone:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET
