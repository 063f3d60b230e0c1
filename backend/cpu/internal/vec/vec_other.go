//go:build !amd64

package vec

// HasAVX2 is false off amd64: the functions do nothing and return 0.
const HasAVX2 = false

func Tanh(x, y []float32, c *TanhConsts) int                 { return 0 }
func SGDMomentum(p, g, v []float32, lr, mom, wd float32) int { return 0 }
func Adam(p, g, m, v []float32, k *AdamConsts) int           { return 0 }
