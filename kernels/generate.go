package kernels

// PTX for the CUDA backend, for a virtual architecture old enough for
// common cards; the driver JIT-compiles it for newer ones (Hopper included).
// ci/test.sh regenerates it and fails if the committed file differs.
//go:generate sh -c "nvcc -ptx -arch=compute_70 -o nn.ptx nn_cuda.cu"
