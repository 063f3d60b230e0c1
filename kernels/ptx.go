package kernels

import _ "embed"

// ptx is nvcc's output for nn_cuda.cu (see generate.go).
//
//go:embed nn.ptx
var ptx string

// PTX returns the kernels compiled for the CUDA driver API.
func PTX() string { return ptx }
