//go:build !openblas

package cpu

// defaultGEMM is diynn's own SGEMM (package gemm); build with -tags
// openblas to make OpenBLAS the default.
const defaultGEMM = "diynn"

// extraGEMMs: OpenBLAS is linked only with -tags openblas.
func extraGEMMs() []gemmImpl { return nil }
