package cpu

import (
	"math"
	"testing"
)

// ulps is the distance between got and the float32 rounding of want, in
// units in the last place of the latter.
func ulps(got float32, want float64) float64 {
	w := float32(want)
	if got == w {
		return 0
	}
	ulp := math.Nextafter32(float32(math.Abs(want)), float32(math.Inf(1))) - float32(math.Abs(want))
	return math.Abs(float64(got)-want) / float64(ulp)
}

func TestFastMathAccuracy(t *testing.T) {
	cases := []struct {
		name   string
		f      func(float32) float32
		ref    func(float64) float64
		lo, hi float64
		ulps   float64
	}{
		{"expf", expf, math.Exp, -103, 88.7, 2},
		{"expm1f", expm1f, math.Expm1, -20, 20, 3.5},
		{"tanhf", tanhf, math.Tanh, -12, 12, 3},
	}
	for _, c := range cases {
		worst, at := 0.0, 0.0
		const steps = 2000003
		for i := 0; i <= steps; i++ {
			x := float32(c.lo + (c.hi-c.lo)*float64(i)/steps)
			want := c.ref(float64(x))
			if math.Abs(want) < 1e-37 {
				continue // subnormal results: ulp is not meaningful
			}
			if u := ulps(c.f(x), want); u > worst {
				worst, at = u, float64(x)
			}
		}
		if worst > c.ulps {
			t.Errorf("%s: %.1f ulp at x = %g, want ≤ %v", c.name, worst, at, c.ulps)
		}
		t.Logf("%s: worst %.2f ulp on [%g, %g]", c.name, worst, c.lo, c.hi)
	}
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-8, 1e-4} {
		if got := tanhf(x); math.Abs(float64(got)-math.Tanh(float64(x))) > 1e-7*math.Abs(float64(x)) {
			t.Errorf("tanhf(%g) = %g, want %g", x, got, math.Tanh(float64(x)))
		}
	}
	if !math.IsInf(float64(expf(100)), 1) || expf(-200) != 0 || !math.IsNaN(float64(expf(float32(math.NaN())))) {
		t.Error("expf edge cases")
	}
}

func BenchmarkTanh(b *testing.B) {
	xs := make([]float32, 22528)
	for i := range xs {
		xs[i] = float32(i%200)/50 - 2
	}
	ys := make([]float32, len(xs))
	b.Run("tanhf", func(b *testing.B) {
		for b.Loop() {
			for i, v := range xs {
				ys[i] = tanhf(v)
			}
		}
	})
	b.Run("scale", func(b *testing.B) {
		for b.Loop() {
			for i, v := range xs {
				ys[i] = 2 * v
			}
		}
	})
	b.Run("math.Tanh", func(b *testing.B) {
		for b.Loop() {
			for i, v := range xs {
				ys[i] = float32(math.Tanh(float64(v)))
			}
		}
	})
}
