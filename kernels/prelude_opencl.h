/* The OpenCL C dialect of diynn's kernels (see nn.kern). Only what differs
 * between OpenCL C 1.2 and CUDA C lives here. */
#define KERNEL __kernel
#define GLOBAL __global
#define LOCAL __local
#define ALIGN16 __attribute__((aligned(16)))
#define BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
#define GLOBAL_ID() ((int)get_global_id(0))
#define LOCAL_X() ((int)get_local_id(0))
#define LOCAL_Y() ((int)get_local_id(1))
#define GROUP_X() ((int)get_group_id(0))
#define GROUP_Y() ((int)get_group_id(1))
#define EXPF(x) exp(x)
#define LOGF(x) log(x)
#define LOG1PF(x) log1p(x)
#define TANHF(x) tanh(x)
#define SQRTF(x) sqrt(x)
#define FABSF(x) fabs(x)
#define FMAXF(a, b) fmax(a, b)
#define FMINF(a, b) fmin(a, b)
#define INFINITYF INFINITY
#define SINF(x) sin(x)
#define COSF(x) cos(x)
/* Philox needs 32-bit words, 64-bit counters and the high half of a 32x32
 * product. */
#define U32 uint
#define U64 ulong
#define MULHI32(a, b) mul_hi((uint)(a), (uint)(b))
#define DEVICE static inline
/* OpenCL C may contract a*b+c into a multiply-add (FP_CONTRACT is on by
 * default); kernels that must round each operation on its own (random_fill)
 * switch contraction off in their body with #pragma OPENCL FP_CONTRACT OFF,
 * so these are plain operations. */
#define FMUL_RN(a, b) ((a) * (b))
#define FADD_RN(a, b) ((a) + (b))
