//go:build amd64 && !amd64.v3

// GOAMD64=v3 lets the compiler contract the Go loops' a·b + c into FMA,
// so only below it are they the assembly's bit for bit.

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/diynn/diynn/backend"
)

// vecInputs returns n values: random ones of every magnitude, with the
// special values (NaN, ±Inf, ±0, subnormals, tanh's clamp at 9) spread
// through them so that they land in vector lanes and in the scalar tail.
func vecInputs(rng *rand.Rand, n int) []float32 {
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)),
		1e-40, -1e-45, 9, -9, 8.999999, 1e-8, -0.34657359, 0.34657359, 88, -104, 3e38}
	x := make([]float32, n)
	for i := range x {
		if rng.IntN(4) == 0 {
			x[i] = special[rng.IntN(len(special))]
			continue
		}
		x[i] = float32((rng.Float64()*2 - 1) * math.Pow(10, rng.Float64()*8-5))
	}
	return x
}

// withoutAVX2 runs f with the Go loops only.
func withoutAVX2(t *testing.T, f func()) {
	t.Helper()
	saved := useAVX2
	useAVX2 = false
	defer func() { useAVX2 = saved }()
	f()
}

func sameBits(t *testing.T, what string, n int, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("%s, n=%d: value %d is %v with AVX2, %v with the Go loop", what, n, i, got[i], want[i])
		}
	}
}

func TestVecLoopsMatchGo(t *testing.T) {
	if !useAVX2 {
		t.Skip("this CPU lacks AVX2")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{0, 1, 7, 8, 9, 16, 31, 33, 257, 1000} {
		x := vecInputs(rng, n)
		got, want := make([]float32, n+1), make([]float32, n+1)
		got[n], want[n] = 42, 42 // past the end: must stay
		actForward(backend.Tanh, 0, x, got[:n])
		withoutAVX2(t, func() { actForward(backend.Tanh, 0, x, want[:n]) })
		sameBits(t, "tanh", n, got, want)
		for i, v := range x { // and the Go loop is tanhf itself
			if w := tanhf(v); math.Float32bits(w) != math.Float32bits(want[i]) && w == w {
				t.Fatalf("tanh(%v) = %v, tanhf gives %v", v, want[i], w)
			}
		}

		grad, param, vel := vecInputs(rng, n), vecInputs(rng, n), vecInputs(rng, n)
		for _, nesterov := range []bool{false, true} {
			for _, mom := range []float32{0, 0.9} {
				s := backend.SGDStep{LR: 0.05, Momentum: mom, WeightDecay: 1e-3, Nesterov: nesterov}
				p1, v1 := append([]float32(nil), param...), append([]float32(nil), vel...)
				p2, v2 := append([]float32(nil), param...), append([]float32(nil), vel...)
				sgdRange(&kernelArgs{x: p1, y: grad, z: v1, sgd: s}, 0, n)
				withoutAVX2(t, func() { sgdRange(&kernelArgs{x: p2, y: grad, z: v2, sgd: s}, 0, n) })
				sameBits(t, "SGD param", n, p1, p2)
				sameBits(t, "SGD velocity", n, v1, v2)
			}
		}

		m0, v0 := vecInputs(rng, n), vecInputs(rng, n)
		for i := range v0 {
			v0[i] = float32(math.Abs(float64(v0[i]))) // a second moment; NaN stays NaN
		}
		for _, decoupled := range []bool{false, true} {
			s := backend.AdamStep{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, OneMinusBeta1: 0.1, OneMinusBeta2: 0.001,
				BC1: 0.1, BC2: 0.001, Eps: 1e-8, WeightDecay: 0.01, Decoupled: decoupled}
			p1, m1, v1 := append([]float32(nil), param...), append([]float32(nil), m0...), append([]float32(nil), v0...)
			p2, m2, v2 := append([]float32(nil), param...), append([]float32(nil), m0...), append([]float32(nil), v0...)
			adamRange(&kernelArgs{x: p1, y: grad, z: m1, w: v1, adam: s}, 0, n)
			withoutAVX2(t, func() { adamRange(&kernelArgs{x: p2, y: grad, z: m2, w: v2, adam: s}, 0, n) })
			sameBits(t, "Adam param", n, p1, p2)
			sameBits(t, "Adam m", n, m1, m2)
			sameBits(t, "Adam v", n, v1, v2)
		}
	}
}
