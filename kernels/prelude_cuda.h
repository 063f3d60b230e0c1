/* The CUDA C dialect of diynn's kernels (see nn.kern). Only what differs
 * between OpenCL C 1.2 and CUDA C lives here. */
#define KERNEL extern "C" __global__
#define GLOBAL
#define LOCAL __shared__
#define ALIGN16 __align__(16)
#define BARRIER() __syncthreads()
#define GLOBAL_ID() ((int)(blockIdx.x * blockDim.x + threadIdx.x))
#define LOCAL_X() ((int)threadIdx.x)
#define LOCAL_Y() ((int)threadIdx.y)
#define GROUP_X() ((int)blockIdx.x)
#define GROUP_Y() ((int)blockIdx.y)
#define EXPF(x) expf(x)
#define LOGF(x) logf(x)
#define LOG1PF(x) log1pf(x)
#define TANHF(x) tanhf(x)
#define SQRTF(x) sqrtf(x)
#define FABSF(x) fabsf(x)
#define FMAXF(a, b) fmaxf(a, b)
#define FMINF(a, b) fminf(a, b)
#define INFINITYF __int_as_float(0x7f800000)
#define SINF(x) sinf(x)
#define COSF(x) cosf(x)
/* Philox needs 32-bit words, 64-bit counters and the high half of a 32x32
 * product. */
#define U32 unsigned int
#define U64 unsigned long long
#define MULHI32(a, b) __umulhi(a, b)
#define DEVICE static __device__ __forceinline__
/* Products and sums rounded on their own: nvcc fuses a*b+c into an FMA
 * unless told not to, which would make Uniform differ from cpu. */
#define FMUL_RN(a, b) __fmul_rn(a, b)
#define FADD_RN(a, b) __fadd_rn(a, b)
