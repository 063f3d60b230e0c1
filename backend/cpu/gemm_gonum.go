//go:build !openblas

package cpu

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

const gemmName = "gonum"

func defaultGemm() blas.Float32Level3 { return gonum.Implementation{} }
