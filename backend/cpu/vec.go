package cpu

import (
	"math"

	"github.com/diynn/diynn/backend/cpu/internal/vec"
)

// useAVX2 turns the assembly loops of package vec on (tests turn them off
// to compare with the Go loops).
var useAVX2 = vec.HasAVX2

// tanhConsts holds tanhf's constants for vec.Tanh, taken from the same Go
// constants, so the assembly multiplies by the very values tanhf does.
var tanhConsts = func() (c vec.TanhConsts) {
	rows := [15]uint32{
		1 << 31, math.Float32bits(9), math.Float32bits(-2), math.Float32bits(log2e),
		math.Float32bits(0.5), math.Float32bits(ln2Hi), math.Float32bits(ln2Lo), 127,
		math.Float32bits(1), math.Float32bits(1.0 / 6), math.Float32bits(1.0 / 24), math.Float32bits(1.0 / 120),
		math.Float32bits(1.0 / 720), math.Float32bits(1.0 / 5040), math.Float32bits(2),
	}
	for i, v := range rows {
		for j := range c[i] {
			c[i][j] = v
		}
	}
	return c
}()

// tanhVec computes y[i] = tanhf(x[i]) for a prefix of x whose length is a
// multiple of 8 and returns that length (0 without AVX2); the caller does
// the rest.
func tanhVec(x, y []float32) int {
	if !useAVX2 {
		return 0
	}
	return vec.Tanh(x, y, &tanhConsts)
}

// sgdMomentumVec is sgdRange's momentum loop on a prefix of p, as tanhVec.
func sgdMomentumVec(p, g, v []float32, lr, mom, wd float32) int {
	if !useAVX2 {
		return 0
	}
	return vec.SGDMomentum(p, g, v, lr, mom, wd)
}

// adamVec is adamRange's loop on a prefix of p, as tanhVec.
func adamVec(p, g, m, v []float32, k *vec.AdamConsts) int {
	if !useAVX2 {
		return 0
	}
	return vec.Adam(p, g, m, v, k)
}
