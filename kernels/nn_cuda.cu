// The CUDA translation unit of diynn's kernels: the CUDA prelude plus the
// shared source. `go generate ./kernels` compiles it to nn.ptx.
#include "prelude_cuda.h"
#include "nn.kern"
