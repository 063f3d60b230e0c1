package kernels

// codes.h first, from the Go constants (gencodes.go); then the PTX for the
// CUDA backend, for a virtual architecture old enough for common cards; the
// driver JIT-compiles it for newer ones (Hopper included). ci/test.sh
// regenerates the PTX and fails if the committed file differs; a test fails
// if codes.h differs from what Codes writes.
//go:generate go run gencodes.go
//go:generate sh -c "nvcc -ptx -arch=compute_70 -o nn.ptx nn_cuda.cu"
