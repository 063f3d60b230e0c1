//go:build !amd64

package cpu

// Only amd64 has the assembly loops; elsewhere the Go loops do all the work.
func tanhVec(x, y []float32) int                                { return 0 }
func sgdMomentumVec(p, g, v []float32, lr, mom, wd float32) int { return 0 }
func adamVec(p, g, m, v []float32, k *adamConsts) int           { return 0 }
