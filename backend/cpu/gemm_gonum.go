//go:build !openblas

package cpu

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

const gemmName = "gonum"

// smallGemmTiles: gonum's Sgemm gets 64×192 tiles (see gemm.go).
const smallGemmTiles = true

func defaultGemm() blas.Float32Level3 { return gonum.Implementation{} }
