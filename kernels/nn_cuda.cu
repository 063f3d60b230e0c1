// The CUDA translation unit of diynn's kernels: the CUDA prelude, the codes
// shared with Go and the shared source. `go generate ./kernels` compiles it
// to nn.ptx.
#include "prelude_cuda.h"
#include "codes.h"
#include "nn.kern"
