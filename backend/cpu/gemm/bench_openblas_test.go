//go:build openblas

package gemm

import "gonum.org/v1/netlib/blas/netlib"

// With -tags openblas, BenchmarkSgemm also measures OpenBLAS (through
// gonum's netlib binding; set OPENBLAS_NUM_THREADS=1 for one core).
func init() { benchPeers["openblas"] = netlib.Implementation{} }
