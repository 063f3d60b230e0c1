//go:build openblas

package cpu

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int);
import "C"

import (
	"runtime"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"
)

// defaultGEMM: a build with -tags openblas asked for OpenBLAS.
const defaultGEMM = "openblas"

// extraGEMMs routes GEMM to OpenBLAS through gonum's netlib binding; the
// cgo directive above links it, so `go build -tags openblas` needs no flags.
//
// OpenBLAS is made single-threaded: the backend's pool splits each product
// across cores (see gemm.go).
func extraGEMMs() []gemmImpl {
	C.openblas_set_num_threads(1)
	return []gemmImpl{
		{name: "openblas", label: "OpenBLAS", impl: netlib.Implementation{}, rowAlign: 16, colAlign: 16},
		// For comparison only (cmd/bench -gemm openblas-threads): OpenBLAS
		// with GOMAXPROCS threads of its own and the whole product in one
		// call, which lets its threads share packed blocks.
		{name: "openblas-threads", label: "OpenBLAS-threads", impl: ownThreads{}, tileRows: 1 << 30, tileCols: 1 << 30},
	}
}

// ownThreads is OpenBLAS running its own threads for one call.
type ownThreads struct{ netlib.Implementation }

func (o ownThreads) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	C.openblas_set_num_threads(C.int(runtime.GOMAXPROCS(0)))
	o.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	C.openblas_set_num_threads(1)
}
