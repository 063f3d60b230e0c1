//go:build !amd64

package tsne

// Only amd64 has the assembly kernels; elsewhere pairs.go's loops run.
const hasAVX2 = false

func attractRow2AVX2(y *float64, col *int32, val *float64, n int, y0, y1 float64) (gx, gy float64) {
	panic("tsne: no AVX2 kernel on this architecture")
}

func matVec28AVX2(mat *float64, src *float64, n int, acc *float64) {
	panic("tsne: no AVX2 kernel on this architecture")
}

func firstAtMostAVX2(v *float32, n int, t float32) int {
	panic("tsne: no AVX2 kernel on this architecture")
}

func nearSym2AVX2(ys *float64, f *float64, runs *int32, nruns int, yx, yy float64) (z, fx, fy float64) {
	panic("tsne: no AVX2 kernel on this architecture")
}
