//go:build !amd64

package gemm

// Only amd64 has assembly kernels; elsewhere the pure-Go kernel runs.
const (
	hasAVX2   = false
	hasAVX512 = false
)

func kernelAVX2(k int, a *float32, rs, cs int, b *float32, c *float32, ldc int, mr, nr int, mask *int32, alpha, beta float32, loadC bool) {
	panic("gemm: no AVX2 kernel on this architecture")
}

func kernelAVX512(k int, a *float32, rs, cs int, b *float32, pstride int, c *float32, ldc int, mr int, hiMask int, alpha, beta float32, loadC bool) {
	panic("gemm: no AVX-512 kernel on this architecture")
}

func packRowsAVX2(dst, src *float32, rows, ldb, panels, kc int) {
	panic("gemm: no AVX2 packing on this architecture")
}

func packTransAVX2(dst, src *float32, ldb, blocks int) {
	panic("gemm: no AVX2 packing on this architecture")
}

func packPartialAVX2(dst, src *float32, rows, ldb int, mask *int32) {
	panic("gemm: no AVX2 packing on this architecture")
}
