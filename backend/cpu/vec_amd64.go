package cpu

import (
	"math"

	"golang.org/x/sys/cpu"
)

// hasAVX2 reports whether the AVX2 loops of vec_amd64.s can run.
var hasAVX2 = cpu.X86.HasAVX2

// tanhConsts holds tanhf's constants, eight lanes a row, in the order of
// the C_ offsets in vec_amd64.s; taken from the same Go constants, so the
// assembly multiplies by the very values tanhf does.
var tanhConsts = func() (c [15][8]uint32) {
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

//go:noescape
func tanhAVX2(x, y *float32, n int, c *[15][8]uint32)

//go:noescape
func sgdMomentumAVX2(p, grad, v *float32, n int, lr, mom, wd float32)

//go:noescape
func adamAVX2(p, grad, m, v *float32, n int, k *adamConsts)

// tanhVec computes y[i] = tanhf(x[i]) for a prefix of x whose length is a
// multiple of 8 and returns that length; the caller does the rest.
func tanhVec(x, y []float32) int {
	n := len(x) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	_ = y[n-1]
	tanhAVX2(&x[0], &y[0], n, &tanhConsts)
	return n
}

// sgdMomentumVec is sgdRange's momentum loop on a prefix of p, as tanhVec.
func sgdMomentumVec(p, g, v []float32, lr, mom, wd float32) int {
	n := len(p) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	_, _ = g[n-1], v[n-1]
	sgdMomentumAVX2(&p[0], &g[0], &v[0], n, lr, mom, wd)
	return n
}

// adamVec is adamRange's loop on a prefix of p, as tanhVec.
func adamVec(p, g, m, v []float32, k *adamConsts) int {
	n := len(p) &^ 7
	if !hasAVX2 || n == 0 {
		return 0
	}
	_, _, _ = g[n-1], m[n-1], v[n-1]
	adamAVX2(&p[0], &g[0], &m[0], &v[0], n, k)
	return n
}
