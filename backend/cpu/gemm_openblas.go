//go:build openblas

package cpu

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int);
import "C"

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"
)

const gemmName = "OpenBLAS"

// smallGemmTiles: OpenBLAS gets one slab of C per core (see gemm.go).
const smallGemmTiles = false

// defaultGemm routes GEMM to OpenBLAS through gonum's netlib binding; the
// cgo directive above links it, so `go build -tags openblas` needs no flags.
//
// OpenBLAS is made single-threaded: the backend's pool splits each product
// across cores (see gemm.go).
func defaultGemm() blas.Float32Level3 {
	C.openblas_set_num_threads(1)
	return netlib.Implementation{}
}
