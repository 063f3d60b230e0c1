package cpu

import "math"

// Float32 exp and tanh for the activation and softmax kernels. math.Exp and
// math.Tanh work in float64 and cost 15-30 ns a call on the machines we
// measured (see docs/BENCHMARKS.md), which made tanh a quarter of a training
// step; these cost a few ns and stay within 2 ulp of float32, which the
// tests in fastmath_test.go check against the float64 functions.

const (
	log2e = 1.44269504088896341
	// ln2Hi + ln2Lo = ln 2, with ln2Hi exact in float32 so that n·ln2Hi is
	// exact for the |n| ≤ 150 that occur (Cody-Waite reduction).
	ln2Hi = 0.693145751953125
	ln2Lo = 1.42860682030941723212e-6
	// Beyond these, exp over- or underflows float32.
	expMax = 88.72283
	expMin = -103.97208
)

// expm1Poly returns e^r - 1 for |r| ≤ ln2/2 by its Taylor series to r⁷,
// whose truncation error (|r|⁸/8! < 2e-9) is below float32 resolution.
// Estrin's scheme, not Horner's: the chain of dependent operations is 4
// deep instead of 14, which is what limits a scalar loop.
func expm1Poly(r float32) float32 {
	r2 := r * r
	r4 := r2 * r2
	lo := (1 + r*(1.0/2)) + r2*(1.0/6+r*(1.0/24))
	hi := (1.0/120 + r*(1.0/720)) + r2*(1.0/5040)
	return r * (lo + r4*hi)
}

// reduce splits x into n·ln2 + r with |r| ≤ ln2/2.
func reduce(x float32) (n int32, r float32) {
	// Round half away from zero by truncation: math.Round is not an
	// intrinsic and would dominate the cost.
	k := x * log2e
	if k >= 0 {
		k += 0.5
	} else {
		k -= 0.5
	}
	n = int32(k)
	fn := float32(n)
	return n, x - fn*ln2Hi - fn*ln2Lo
}

// exp2i returns 2ⁿ for normal results and 0 below them.
func exp2i(n int32) float32 {
	if n < -126 {
		return float32(math.Ldexp(1, int(n)))
	}
	return math.Float32frombits(uint32(n+127) << 23)
}

// expf returns e^x in float32.
func expf(x float32) float32 {
	switch {
	case x > expMax:
		return float32(math.Inf(1))
	case x < expMin:
		return 0
	case x != x:
		return x
	}
	n, r := reduce(x)
	p := 1 + expm1Poly(r)
	if n > 127 { // 2ⁿ itself would overflow; split the scaling
		return p * 2 * exp2i(n-1)
	}
	return p * exp2i(n)
}

// expm1f returns e^x - 1 in float32, accurate near 0 where exp(x) - 1 is not.
func expm1f(x float32) float32 {
	if x < -20 {
		return -1
	}
	n, r := reduce(x)
	if n == 0 {
		return expm1Poly(r)
	}
	// 2ⁿ(1+p) - 1 as 2ⁿ·p + (2ⁿ - 1): the second term is exact for the
	// n that occur, so no rounding of 1+p is amplified.
	s := exp2i(n)
	return s*expm1Poly(r) + (s - 1)
}

// tanhf returns tanh(x) = -m/(2+m) with m = e^(-2|x|) - 1, sign restored.
// It is expm1f specialised to arguments in [-18, 0], where 2ⁿ is always a
// normal float32, and written without branches or calls so that the
// compiler inlines it into the activation loop.
func tanhf(x float32) float32 {
	const sign = 1 << 31
	a := min(math.Float32frombits(math.Float32bits(x)&^sign), 9) // tanh(9) rounds to 1
	y := -2 * a
	n := int32(y*log2e - 0.5) // rounds y·log₂e half away from zero, y ≤ 0
	fn := float32(n)
	r := y - fn*ln2Hi - fn*ln2Lo
	s := math.Float32frombits(uint32(n+127) << 23)
	m := s*expm1Poly(r) + (s - 1)
	t := -m / (2 + m)
	return math.Float32frombits(math.Float32bits(t) | math.Float32bits(x)&sign)
}
