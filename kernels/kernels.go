// Package kernels holds diynn's device kernels: one source, nn.kern, in the
// common subset of OpenCL C 1.2 and CUDA C, and a prelude per dialect that
// defines the few names that differ. The OpenCL backend compiles the OpenCL
// prelude plus the source at run time; the CUDA backend will load PTX built
// from the CUDA prelude plus the same source.
package kernels

import _ "embed"

//go:embed nn.kern
var source string

//go:embed prelude_opencl.h
var openCLPrelude string

// OpenCL returns the complete OpenCL C program.
func OpenCL() string { return openCLPrelude + "\n" + source }

// Names lists every kernel the source defines, for backends that load them
// all up front.
var Names = []string{
	"fill", "gemm", "gemm_reduce", "gemm_big", "axpy", "scale", "act_forward", "act_backward", "add_row_vector", "sum_rows",
	"softmax_rows", "softmax_backward", "loss_pointwise", "cross_entropy_rows", "reduce_sum",
	"sgd_step", "adam_step", "gather_rows", "argmax_rows",
}
