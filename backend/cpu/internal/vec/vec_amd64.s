// AVX2 loops for the elementwise kernels that dominate a training step
// after the GEMMs: tanh (ActForward and GemmBiasAct's epilogue), and the
// SGD-with-momentum and Adam updates. Each does, lane by lane, exactly the
// float32 operations of its Go loop in package cpu (tanhf in fastmath.go,
// sgdRange and adamRange in kernels.go), in the same order and without FMA
// contraction (as Go compiles for amd64 v1), so the results are the Go
// loop's bit for bit; cpu's vec_amd64_test.go checks that.

#include "textflag.h"

// Rows of the constant table (8 lanes, 32 bytes each); see TanhConsts.
#define C_SIGN 0
#define C_NINE 32
#define C_MINUS2 64
#define C_LOG2E 96
#define C_HALF 128
#define C_LN2HI 160
#define C_LN2LO 192
#define C_BIAS 224
#define C_ONE 256
#define C_6 288
#define C_24 320
#define C_120 352
#define C_720 384
#define C_5040 416
#define C_TWO 448

// func tanhAVX2(x, y *float32, n int, c *TanhConsts)
// n is a multiple of 8.
TEXT ·tanhAVX2(SB), NOSPLIT, $0-32
	MOVQ    x+0(FP), SI
	MOVQ    y+8(FP), DI
	MOVQ    n+16(FP), CX
	MOVQ    c+24(FP), R8
	VMOVUPS C_SIGN(R8), Y15
	VMOVUPS C_NINE(R8), Y14
	VMOVUPS C_LOG2E(R8), Y13
	VMOVUPS C_HALF(R8), Y12
	VMOVUPS C_LN2HI(R8), Y11
	VMOVUPS C_LN2LO(R8), Y10
	VMOVUPS C_BIAS(R8), Y9
	VMOVUPS C_ONE(R8), Y8
	SHRQ    $3, CX
	JZ      tanhDone

tanhLoop:
	VMOVUPS    (SI), Y0
	VANDNPS    Y0, Y15, Y1       // a = |x|
	VMINPS     Y1, Y14, Y1       // min(a, 9), NaN kept (Go's min)
	VMULPS     C_MINUS2(R8), Y1, Y1 // y = -2a
	VMULPS     Y13, Y1, Y2
	VSUBPS     Y12, Y2, Y2       // y·log₂e - 0.5
	VCVTTPS2DQ Y2, Y3            // n, truncated
	VCVTDQ2PS  Y3, Y4            // fn
	VMULPS     Y11, Y4, Y5
	VSUBPS     Y5, Y1, Y5        // y - fn·ln2Hi
	VMULPS     Y10, Y4, Y6
	VSUBPS     Y6, Y5, Y5        // r
	VPADDD     Y9, Y3, Y3
	VPSLLD     $23, Y3, Y3       // s = 2ⁿ
	VMULPS     Y5, Y5, Y6        // r²
	VMULPS     Y6, Y6, Y7        // r⁴
	VMULPS     Y12, Y5, Y1
	VADDPS     Y8, Y1, Y1        // 1 + r/2
	VMULPS     C_24(R8), Y5, Y2
	VADDPS     C_6(R8), Y2, Y2   // 1/6 + r/24
	VMULPS     Y6, Y2, Y2
	VADDPS     Y2, Y1, Y1        // lo
	VMULPS     C_720(R8), Y5, Y2
	VADDPS     C_120(R8), Y2, Y2 // 1/120 + r/720
	VMULPS     C_5040(R8), Y6, Y4
	VADDPS     Y4, Y2, Y2        // hi
	VMULPS     Y7, Y2, Y2
	VADDPS     Y2, Y1, Y1        // lo + r⁴·hi
	VMULPS     Y1, Y5, Y1        // e^r - 1
	VMULPS     Y1, Y3, Y1        // s·(e^r - 1)
	VSUBPS     Y8, Y3, Y2        // s - 1
	VADDPS     Y2, Y1, Y1        // m
	VADDPS     C_TWO(R8), Y1, Y2 // 2 + m
	VXORPS     Y15, Y1, Y1       // -m
	VDIVPS     Y2, Y1, Y1        // -m / (2 + m)
	VANDPS     Y15, Y0, Y0
	VORPS      Y0, Y1, Y1        // x's sign
	VMOVUPS    Y1, (DI)
	ADDQ       $32, SI
	ADDQ       $32, DI
	DECQ       CX
	JNZ        tanhLoop

tanhDone:
	VZEROUPPER
	RET

// func sgdMomentumAVX2(p, grad, v *float32, n int, lr, mom, wd float32)
// v = mom·v + g + wd·p; p -= lr·v. n is a multiple of 8.
TEXT ·sgdMomentumAVX2(SB), NOSPLIT, $0-44
	MOVQ         p+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         v+16(FP), BX
	MOVQ         n+24(FP), CX
	VBROADCASTSS lr+32(FP), Y15
	VBROADCASTSS mom+36(FP), Y14
	VBROADCASTSS wd+40(FP), Y13
	SHRQ         $3, CX
	JZ           sgdDone

sgdLoop:
	VMULPS  (BX), Y14, Y0  // mom·v
	VADDPS  (SI), Y0, Y0   // + g
	VMOVUPS (DI), Y1
	VMULPS  Y13, Y1, Y2
	VADDPS  Y2, Y0, Y0     // + wd·p
	VMOVUPS Y0, (BX)
	VMULPS  Y15, Y0, Y2
	VSUBPS  Y2, Y1, Y1     // p - lr·v
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, BX
	DECQ    CX
	JNZ     sgdLoop

sgdDone:
	VZEROUPPER
	RET

// func adamAVX2(p, grad, m, v *float32, n int, k *AdamConsts)
// The loop of adamRange; n is a multiple of 8.
TEXT ·adamAVX2(SB), NOSPLIT, $0-48
	MOVQ         p+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         m+16(FP), BX
	MOVQ         v+24(FP), DX
	MOVQ         n+32(FP), CX
	MOVQ         k+40(FP), R8
	VBROADCASTSS 0(R8), Y15  // beta1
	VBROADCASTSS 4(R8), Y14  // 1 - beta1
	VBROADCASTSS 8(R8), Y13  // beta2
	VBROADCASTSS 12(R8), Y12 // 1 - beta2
	VBROADCASTSS 16(R8), Y11 // 1/√bc2
	VBROADCASTSS 20(R8), Y10 // eps
	VBROADCASTSS 24(R8), Y9  // stepSize
	VBROADCASTSS 28(R8), Y8  // decay (decoupled) or weight decay
	MOVL         32(R8), AX  // decoupled
	SHRQ         $3, CX
	JZ           adamDone

adamLoop:
	VMOVUPS (DI), Y0 // p
	VMOVUPS (SI), Y1 // g
	TESTL   AX, AX
	JZ      coupled
	VMULPS  Y8, Y0, Y0 // p·decay
	JMP     moments

coupled:
	VMULPS Y0, Y8, Y2
	VADDPS Y2, Y1, Y1 // g + wd·p

moments:
	VMULPS  (BX), Y15, Y2
	VMULPS  Y1, Y14, Y3
	VADDPS  Y3, Y2, Y2     // m
	VMULPS  (DX), Y13, Y3
	VMULPS  Y1, Y12, Y4
	VMULPS  Y1, Y4, Y4
	VADDPS  Y4, Y3, Y3     // v
	VMOVUPS Y2, (BX)
	VMOVUPS Y3, (DX)
	VSQRTPS Y3, Y3
	VMULPS  Y11, Y3, Y3
	VADDPS  Y10, Y3, Y3    // denominator
	VMULPS  Y2, Y9, Y2     // stepSize·m
	VDIVPS  Y3, Y2, Y2
	VSUBPS  Y2, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, BX
	ADDQ    $32, DX
	DECQ    CX
	JNZ     adamLoop

adamDone:
	VZEROUPPER
	RET
