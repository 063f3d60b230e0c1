package vec

import "golang.org/x/sys/cpu"

// HasAVX2 reports whether the loops run (otherwise they do nothing).
var HasAVX2 = cpu.X86.HasAVX2

//go:noescape
func tanhAVX2(x, y *float32, n int, c *TanhConsts)

//go:noescape
func sgdMomentumAVX2(p, grad, v *float32, n int, lr, mom, wd float32)

//go:noescape
func adamAVX2(p, grad, m, v *float32, n int, k *AdamConsts)

// Tanh sets y[i] = tanh(x[i]) (tanhf's algorithm, with c's constants).
func Tanh(x, y []float32, c *TanhConsts) int {
	n := len(x) &^ 7
	if !HasAVX2 || n == 0 {
		return 0
	}
	_ = y[n-1]
	tanhAVX2(&x[0], &y[0], n, c)
	return n
}

// SGDMomentum sets v = mom·v + g + wd·p, then p -= lr·v.
func SGDMomentum(p, g, v []float32, lr, mom, wd float32) int {
	n := len(p) &^ 7
	if !HasAVX2 || n == 0 {
		return 0
	}
	_, _ = g[n-1], v[n-1]
	sgdMomentumAVX2(&p[0], &g[0], &v[0], n, lr, mom, wd)
	return n
}

// Adam is adamRange's update of p, m and v from g.
func Adam(p, g, m, v []float32, k *AdamConsts) int {
	n := len(p) &^ 7
	if !HasAVX2 || n == 0 {
		return 0
	}
	_, _, _ = g[n-1], m[n-1], v[n-1]
	adamAVX2(&p[0], &g[0], &m[0], &v[0], n, k)
	return n
}
