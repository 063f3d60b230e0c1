//go:build !openblas

package cpu

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

const gemmName = "gonum"

// splitGemm: gonum's Sgemm is tiled onto our worker pool (see gemm.go).
const splitGemm = true

func defaultGemm() blas.Float32Level3 { return gonum.Implementation{} }
