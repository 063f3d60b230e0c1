//go:build openblas

package cpu

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"
)

const gemmName = "OpenBLAS"

// splitGemm: OpenBLAS runs its own threads; hand it whole products.
const splitGemm = false

// defaultGemm routes GEMM to OpenBLAS through gonum's netlib binding; the
// cgo directive above links it, so `go build -tags openblas` needs no flags.
func defaultGemm() blas.Float32Level3 { return netlib.Implementation{} }
