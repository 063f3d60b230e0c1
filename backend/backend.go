// Package backend defines the narrow interface between diynn's neural-network
// code and the devices that run it.
//
// A Backend owns float32 buffers in row-major order and offers the memory
// operations, the GEMM and the elementwise and row-wise kernels that package
// nn needs, and nothing more. Concrete backends (backend/cpu, and behind build
// tags backend/opencl and backend/cuda) register themselves with Register;
// programs open one with Open, by name or with "auto".
//
// # Sticky errors
//
// Kernels do not return errors. As with CUDA launches and bufio.Writer, the
// first failure (a bad size, a buffer of another backend, a device fault) is
// recorded, every later call becomes a no-op, and Sync, Download and Err
// report it. Code that drives a backend therefore checks once, where it reads
// results back, instead of after every kernel.
//
// # Sizes and prefixes
//
// Every kernel takes its element counts explicitly and works on the first
// elements of its buffers, so a buffer may be larger than the data in it: a
// layer sized for a batch of 128 serves a final batch of 96 without
// allocating.
package backend

import (
	"errors"
	"fmt"
)

// Buffer is device memory holding float32 values. It is opaque: only the
// backend that allocated it can read or write it.
type Buffer interface {
	// Len is the number of float32 values the buffer holds.
	Len() int
}

// Activation names a pointwise nonlinearity.
type Activation int

// The activations every backend implements.
const (
	Tanh Activation = iota
	Sigmoid
	ReLU
	// LeakyReLU computes x for x > 0 and alpha·x otherwise.
	LeakyReLU
)

func (a Activation) String() string {
	switch a {
	case Tanh:
		return "tanh"
	case Sigmoid:
		return "sigmoid"
	case ReLU:
		return "relu"
	case LeakyReLU:
		return "leakyrelu"
	case Identity:
		return "identity"
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

// Check returns nil for one of the activations above and otherwise an
// error naming the value, for backends to record as "OP: unknown
// activation Activation(9)".
func (a Activation) Check() error {
	if a < Tanh || a > LeakyReLU {
		return fmt.Errorf("unknown activation %v", a)
	}
	return nil
}

// Identity leaves values as they are. It is the activation of a fused
// epilogue that only adds a bias (FusedLinear); ActForward and ActBackward
// do not take it, and Check rejects it, so that the enumeration of the
// activations every kernel implements stays 0, 1, … while Check accepts.
const Identity Activation = -1

// CheckEpilogue returns nil for Identity or one of the activations that
// Check accepts, and otherwise an error naming the value.
func (a Activation) CheckEpilogue() error {
	if a == Identity {
		return nil
	}
	return a.Check()
}

// PointwiseLoss names a loss that compares prediction and target element by
// element; its value is the mean over all elements, as PyTorch's default
// reduction.
type PointwiseLoss int

// The pointwise losses every backend implements.
const (
	// MSE is the mean of (p - t)².
	MSE PointwiseLoss = iota
	// BCE is binary cross-entropy on probabilities. As in PyTorch, each log
	// is clamped at -100 so that p = 0 or 1 gives a finite loss, and the
	// gradient's denominator p(1-p) is clamped at 1e-12.
	BCE
	// BCEWithLogits is binary cross-entropy on logits, computed stably as
	// max(x,0) - x·t + log(1 + exp(-|x|)).
	BCEWithLogits
)

func (l PointwiseLoss) String() string {
	switch l {
	case MSE:
		return "mse"
	case BCE:
		return "bce"
	case BCEWithLogits:
		return "bce-with-logits"
	}
	return fmt.Sprintf("PointwiseLoss(%d)", int(l))
}

// Check returns nil for one of the losses above and otherwise an error
// naming the value.
func (l PointwiseLoss) Check() error {
	if l < MSE || l > BCEWithLogits {
		return fmt.Errorf("unknown loss %v", l)
	}
	return nil
}

// Distribution names what Random draws.
type Distribution int

// The distributions of Random, drawn from Philox 4×32-10 (Salmon et al.,
// SC'11; the Random123 library's philox4x32_10) as follows. Value i of a
// call uses the counter c = offset+i (mod 2⁶⁴): it takes 32-bit word c mod 4
// of the Philox block of c/4, i.e. of philox4x32_10(counter = {block's low
// 32 bits, its high 32 bits, 0, 0}, key = {seed's low 32 bits, its high 32
// bits}), whose words are numbered as Random123 numbers them. From that
// word w:
//
//	u  = (w >> 8) · 2⁻²⁴            in [0, 1), exact in float32
//	u1 = ((w >> 8) + 1) · 2⁻²⁴      in (0, 1], so that log(u1) is finite
const (
	// Uniform draws a + (b-a)·u, rounded as float32 operations: first the
	// difference b-a, then the product, then the sum, never fused into a
	// multiply-add. Values are bit-identical on every backend.
	Uniform Distribution = iota
	// Normal draws a + b·z with z from the Box-Muller transform of a pair
	// of words of the block: words 0 and 1 give values 0 and 1 of the
	// block, words 2 and 3 values 2 and 3. For the pair (w0, w1) and the
	// value's place k (0 or 1) in it, z = √(-2·ln u1(w0))·cos(2π·u(w1)) for
	// k = 0 and ·sin(2π·u(w1)) for k = 1. Backends compute it with their
	// own math library (cpu in float64, GPUs in float32), so normal values
	// agree to a few float32 ulps, not bit for bit.
	Normal
	// Bernoulli draws b where u < a and 0 elsewhere, exactly: with a = 1-p
	// and b = 1/(1-p), an inverted-dropout mask that keeps a fraction 1-p.
	// Values are bit-identical on every backend.
	Bernoulli
)

func (d Distribution) String() string {
	switch d {
	case Uniform:
		return "uniform"
	case Normal:
		return "normal"
	case Bernoulli:
		return "bernoulli"
	}
	return fmt.Sprintf("Distribution(%d)", int(d))
}

// Check returns nil for one of the distributions above and otherwise an
// error naming the value.
func (d Distribution) Check() error {
	if d < Uniform || d > Bernoulli {
		return fmt.Errorf("unknown distribution %v", d)
	}
	return nil
}

// SGDStep holds the hyper-parameters of one fused SGD update, with PyTorch's
// semantics: g = grad + WeightDecay·p; v = Momentum·v + g; p -= LR·(g +
// Momentum·v) with Nesterov, or p -= LR·v without. With Momentum 0 the
// velocity buffer is not touched and may be nil.
type SGDStep struct {
	LR, Momentum, WeightDecay float32
	Nesterov                  bool
}

// AdamStep holds the hyper-parameters of one fused Adam update. OneMinusBeta1
// and OneMinusBeta2 are 1-β₁ and 1-β₂, and BC1 and BC2 the bias corrections
// 1-β₁ᵗ and 1-β₂ᵗ for step t, all computed by the caller in float64: 1 minus
// float32(0.999) is 1.3e-5 away from 0.001, an error that every step of the
// second moment would carry. Decoupled selects AdamW's weight decay
// (p *= 1 - LR·WeightDecay) instead of Adam's L2 term added to the gradient.
type AdamStep struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	OneMinusBeta1, OneMinusBeta2       float32
	BC1, BC2                           float32
	Decoupled                          bool
}

// MemStats counts a backend's buffer allocations since it was opened.
type MemStats struct {
	Allocs    int64 // buffers allocated
	Frees     int64 // buffers freed
	LiveBytes int64 // bytes held by buffers not yet freed
}

// Backend is a device that runs diynn's kernels. All matrices are row-major
// and contiguous. Methods other than Download, Sync, Err and Close report
// failures through the sticky error (see the package documentation).
//
// A Backend is not safe for concurrent use: like a CUDA stream, it runs the
// calls of one goroutine in order.
type Backend interface {
	// Name is the registry name ("cpu", "opencl", "cuda").
	Name() string
	// Device describes the hardware, e.g. "NVIDIA H100 80GB HBM3".
	Device() string

	// Alloc returns a buffer of n float32 values with unspecified contents.
	Alloc(n int) Buffer
	// Free releases a buffer; using it afterwards is an error.
	Free(b Buffer)
	// Upload copies len(src) values from the host into the start of dst.
	Upload(dst Buffer, src []float32)
	// Download copies len(dst) values from the start of src to the host,
	// after every earlier call has finished. It returns the sticky error.
	Download(dst []float32, src Buffer) error
	// Copy copies n values from src to dst.
	Copy(n int, src, dst Buffer)
	// Fill sets the first n values of dst to v.
	Fill(n int, v float32, dst Buffer)

	// Gemm computes C = alpha·op(A)·op(B) + beta·C, where op(A) is m×k,
	// op(B) is k×n and C is m×n; op transposes when its flag is set, so A is
	// stored k×m when transA is true. With beta = 0, C is not read.
	Gemm(transA, transB bool, m, n, k int, alpha float32, a, b Buffer, beta float32, c Buffer)

	// Axpy computes y += alpha·x over n values.
	Axpy(n int, alpha float32, x, y Buffer)
	// Scale computes x *= alpha over n values.
	Scale(n int, alpha float32, x Buffer)

	// ActForward computes y = f(x) over n values; alpha is LeakyReLU's
	// slope and is ignored by the others. x and y may be the same buffer.
	ActForward(f Activation, alpha float32, n int, x, y Buffer)
	// ActBackward computes dx = f'(x)·dy over n values, given the forward
	// input x and output y (tanh and sigmoid use y, the ReLUs use x).
	ActBackward(f Activation, alpha float32, n int, x, y, dy, dx Buffer)

	// AddRowVector adds v (cols values) to every row of the rows×cols
	// matrix x: the bias of a linear layer.
	AddRowVector(rows, cols int, v, x Buffer)
	// SumRows computes dst = beta·dst + the sum of the rows of the
	// rows×cols matrix x: the gradient of a bias.
	SumRows(rows, cols int, x Buffer, beta float32, dst Buffer)

	// Softmax computes y = softmax(x) of each row of a rows×cols matrix, or
	// log-softmax when log is set; both subtract the row maximum first.
	Softmax(log bool, rows, cols int, x, y Buffer)
	// SoftmaxBackward computes dx from the forward output y and dy:
	// y·(dy - Σ dy·y) for softmax, dy - exp(y)·Σ dy for log-softmax.
	SoftmaxBackward(log bool, rows, cols int, y, dy, dx Buffer)

	// Loss computes the mean pointwise loss of n predictions against their
	// targets into loss[0] and its gradient with respect to pred into grad.
	Loss(l PointwiseLoss, n int, pred, target, grad, loss Buffer)
	// CrossEntropy computes the mean over rows of -log softmax(logits)[label]
	// into loss[0] and its gradient with respect to logits into grad. Labels
	// are class indices stored as float32 (exact below 2²⁴); a label outside
	// [0, cols) is an error.
	CrossEntropy(rows, cols int, logits, labels, grad, loss Buffer)

	// SGD applies one update to n parameters; velocity may be nil when
	// s.Momentum is 0.
	SGD(n int, s SGDStep, param, grad, velocity Buffer)
	// Adam applies one Adam or AdamW update to n parameters with moment
	// buffers m and v.
	Adam(n int, s AdamStep, param, grad, m, v Buffer)

	// GatherRows copies rows idx[off], …, idx[off+n-1] of the cols-wide
	// matrix src into the n rows of dst: mini-batches gathered on the device.
	// Indices are stored as float32; one out of range is an error.
	GatherRows(n, cols int, src, idx Buffer, off int, dst Buffer)
	// ArgmaxRows writes the index of the largest value of each row of the
	// rows×cols matrix x into dst (as float32; the first one on ties).
	ArgmaxRows(rows, cols int, x, dst Buffer)

	// Mul computes dst = x ⊙ y over n values (the elementwise product; its
	// gradient with respect to x is gradOut ⊙ y, the same kernel). dst may
	// be x or y.
	Mul(n int, x, y, dst Buffer)
	// MulRowVector computes y = x ⊙ v for every row of the rows×cols matrix
	// x, v holding cols values: a per-feature scale. y may be x.
	MulRowVector(rows, cols int, v, x, y Buffer)
	// ScaleBy computes y = alpha·s[0]·x over n values: scaling by a value
	// that lives on the device, so that nothing is read back. y may be x.
	ScaleBy(n int, alpha float32, s, x, y Buffer)
	// SumSquares computes out[0] = beta·out[0] + Σ x[i]² over n values, in
	// an order that does not depend on the device's parallelism, so that a
	// backend gives the same sum on any number of cores. With beta = 0,
	// out is not read.
	SumSquares(n int, x Buffer, beta float32, out Buffer)
	// ClipFactor computes factor[0] = min(1, maxNorm / (√sumSquares[0] +
	// 1e-6)): the scale of gradient clipping by global norm, as PyTorch's
	// clip_grad_norm_, kept on the device for ScaleBy. A NaN sum gives a
	// NaN factor (as PyTorch's), so non-finite gradients stay visible.
	ClipFactor(maxNorm float32, sumSquares, factor Buffer)
	// Random fills the first n values of dst from the counter-based
	// generator Philox 4×32-10 (Salmon et al., SC'11) keyed by seed: value
	// i comes from counter offset+i alone, so a (seed, offset) gives the
	// same numbers on every backend, whatever its parallelism, and a stream
	// continues by advancing offset by n. See Distribution for a and b.
	Random(dist Distribution, n int, seed, offset uint64, a, b float32, dst Buffer)

	// Convolution, pooling and batch normalization, on batches of NCHW
	// images (see ConvGeom). A geometry that fails ConvGeom.Check (pooling:
	// CheckPool) is an error. Adjoint kernels gather, so that no two
	// threads add into one value and results do not depend on scheduling.

	// Im2Col writes cols, a (N·OH·OW) × (C·KH·KW) matrix: row (n, oh, ow),
	// column (c, kh, kw) holds x[n, c, oh·StrideH − PadH + kh, ow·StrideW −
	// PadW + kw], 0 in the padding. A convolution's forward pass is then
	// cols·Wᵀ with the weights W stored OC × (C·KH·KW), PyTorch's layout
	// flattened, giving an (N·OH·OW) × OC matrix (NHWC; see TransposeBatch).
	Im2Col(g ConvGeom, x, cols Buffer)
	// Col2Im is Im2Col's adjoint: x = beta·x + the sum, for every element
	// of x, of the cols entries Im2Col reads from it (0 for an element no
	// window reads). With beta = 0, x is not read.
	Col2Im(g ConvGeom, cols Buffer, beta float32, x Buffer)
	// TransposeBatch transposes each of the n row-major rows×cols matrices
	// of x into y, n matrices of cols×rows: NHWC ↔ NCHW. y must not be x.
	TransposeBatch(n, rows, cols int, x, y Buffer)
	// CopyColumns copies a block of columns between row-major matrices: for
	// each of rows rows r, the width values src[r·srcCols + srcCol + j]
	// (j < width) go to dst[r·dstCols + dstCol + j]; dst's other columns are
	// left as they are. It splits a batch's features into parts and joins
	// parts into one batch (nn.Concat, nn.SplitLoss). src must not be dst.
	// Columns that do not fit their matrix (CheckColumns) are an error.
	CopyColumns(rows, width int, src Buffer, srcCols, srcCol int, dst Buffer, dstCols, dstCol int)
	// AddChannels adds v[ch] to every value of channel ch of x, an n×c×hw
	// batch: a convolution's bias.
	AddChannels(n, c, hw int, v, x Buffer)
	// SumChannels computes dst[ch] = beta·dst[ch] + the sum of channel ch
	// of the n×c×hw batch x over the batch and its hw values: the gradient
	// of a convolution's bias. With beta = 0, dst is not read. The order of
	// the sum does not depend on the device's parallelism.
	SumChannels(n, c, hw int, x Buffer, beta float32, dst Buffer)
	// MaxPoolForward computes y (N×C×OH×OW), the maximum of each window
	// (padding counts as −∞), and argmax, the index h·W+w within its input
	// plane of each window's first maximum in row-major window order,
	// stored as float32.
	MaxPoolForward(g ConvGeom, x, y, argmax Buffer)
	// MaxPoolBackward computes dx (overwritten, N×C×H×W): each input
	// element gets the sum of dy over the windows whose argmax it is, 0 if
	// none. argmax must be what MaxPoolForward wrote for g.
	MaxPoolBackward(g ConvGeom, dy, argmax, dx Buffer)
	// AvgPoolForward computes y, the mean of each window, padding counted
	// as zeros in the mean (PyTorch's count_include_pad=True): the window's
	// sum divided by KH·KW.
	AvgPoolForward(g ConvGeom, x, y Buffer)
	// AvgPoolBackward computes dx (overwritten) = Σ dy/(KH·KW) over the
	// windows that contain each input element.
	AvgPoolBackward(g ConvGeom, dy, dx Buffer)
	// BatchNormStats computes, for each channel of the n×c×hw batch x, its
	// mean and biased variance (divided by n·hw) over its n·hw values, in
	// two passes (never E[x²] − E[x]², which cancels), in an order that
	// does not depend on the device's parallelism. n·hw must be positive.
	BatchNormStats(n, c, hw int, x, mean, variance Buffer)
	// BatchNormForward computes y = (x − mean[ch])/√(variance[ch] + eps) ·
	// gamma[ch] + beta[ch] over the n×c×hw batch x. y may be x.
	BatchNormForward(n, c, hw int, eps float32, x, mean, variance, gamma, beta, y Buffer)
	// BatchNormBackward accumulates dgamma[ch] += Σ dy·x̂ and dbeta[ch] +=
	// Σ dy over channel ch (x̂ = (x − mean)/√(variance + eps)) and writes
	// dx (dx must not be x or dy). With batchStats (training: mean and
	// variance are x's own, from BatchNormStats) dx = gamma·invstd·(dy −
	// mean(dy) − x̂·mean(dy·x̂)), the means over the channel's n·hw values;
	// without (eval: running statistics, constants) dx = gamma·invstd·dy.
	BatchNormBackward(n, c, hw int, eps float32, batchStats bool, x, dy, mean, variance, gamma, dx, dgamma, dbeta Buffer)

	// MemStats reports buffer allocations.
	MemStats() MemStats
	// Err returns the sticky error without waiting for the device.
	Err() error
	// Sync waits for every earlier call and returns the sticky error.
	Sync() error
	// Close releases the device. The backend must not be used afterwards.
	Close() error
}

// HostWrapper is implemented by backends whose buffers are ordinary host
// memory (cpu). Wrap returns a buffer that uses data itself, without a
// copy, so that a dataset already in memory is not held twice; the caller
// must not use data otherwise while the buffer is in use.
type HostWrapper interface {
	Wrap(data []float32) Buffer
}

// FusedLinear is implemented by backends that can fuse a linear layer's
// bias and activation into the GEMM that computes it, and the activation's
// derivative into the bias gradient's column sums: the passes over memory
// that AddRowVector, ActForward, ActBackward and SumRows would each make
// on their own. nn.Sequential finds it by type assertion and runs a Linear
// followed by an activation through it; a backend without it runs the
// same layers unfused.
type FusedLinear interface {
	// GemmBiasAct computes C = f(alpha·op(A)·op(B) + beta·C + bias) with
	// Gemm's conventions, bias (n values) added to every row of C; a nil
	// bias adds nothing. f is Identity or an activation (fAlpha is
	// LeakyReLU's slope). The values equal those of Gemm, AddRowVector and
	// ActForward run one after the other, to a few ulps (exactly on cpu).
	GemmBiasAct(transA, transB bool, m, n, k int, alpha float32, a, b Buffer, beta float32, c Buffer, bias Buffer, f Activation, fAlpha float32)
	// ActBackwardSumRows computes dx = f'·dy over a rows×cols matrix and,
	// in the same pass, dbias = beta·dbias + the sum of the rows of dx in
	// SumRows's order (with beta = 0, dbias is not read; a nil dbias is
	// not computed). The derivative is taken from the forward output y
	// alone: 1 − y² for tanh, y·(1 − y) for sigmoid, 1 where y > 0 and
	// fAlpha elsewhere for the ReLUs (fAlpha is ignored for ReLU, which
	// uses 0), and 1 for Identity. For LeakyReLU that is f'(x) only when
	// fAlpha ≥ 0 (y > 0 exactly when x > 0); callers with a negative slope
	// use ActBackward. dx may be dy.
	ActBackwardSumRows(f Activation, fAlpha float32, rows, cols int, y, dy, dx Buffer, beta float32, dbias Buffer)
}

// ErrClosed is the sticky error of a backend used after Close.
var ErrClosed = errors.New("backend: used after Close")

// Owned is implemented by the buffer types of backends that check their
// operands with CheckOperand.
type Owned interface {
	Buffer
	// Owner returns the backend that allocated the buffer (nil for a nil
	// pointer) and whether the buffer has been freed.
	Owner() (owner any, freed bool)
}

// CheckOperand is the operand check that every backend makes, written once:
// it returns b as the backend's buffer type T, or an error saying why b
// cannot serve as the operand what of op that must hold n values, in the
// words backends record ("Axpy: y holds 4 values, need 7"). owner is the
// backend making the check. In order, b must not be nil (nor a nil T), must
// be a T allocated by owner, must not have been freed, and must hold at
// least n ≥ 0 values.
func CheckOperand[T Owned](b Buffer, owner any, n int, op, what string) (T, error) {
	t, isT := b.(T)
	var o any
	freed := false
	if isT {
		o, freed = t.Owner()
	}
	switch {
	case b == nil || (isT && o == nil):
		return t, fmt.Errorf("%s: %s is nil", op, what)
	case !isT || o != owner:
		return t, fmt.Errorf("%s: %s belongs to another backend", op, what)
	case freed:
		return t, fmt.Errorf("%s: %s used after Free", op, what)
	case n < 0:
		return t, fmt.Errorf("%s: negative size %d for %s", op, n, what)
	case n > t.Len():
		return t, fmt.Errorf("%s: %s holds %d values, need %d", op, what, t.Len(), n)
	}
	return t, nil
}

// Capturer is implemented by backends that can record a sequence of calls
// once and run it again as one unit of work: a CUDA graph, launched with
// one driver call where the eager calls cost one launch each. A step
// bound by launches (a small network's training step is some 35 small
// kernels) then costs one launch.
//
// Between BeginCapture and EndCapture, calls are issued as usual, with
// their usual checks and sticky errors, but their kernels are recorded,
// not run; EndCapture builds the graph and runs it once, so that the
// captured calls have had their effect when it returns, as if they had run
// eagerly. A call that cannot be part of a graph (Upload, Download, Copy,
// Sync) ends the recording early: what was recorded runs eagerly, then
// the call, and EndCapture returns an error wrapping ErrNotCaptured. The
// results are those of eager calls in every case; only the speed differs.
//
// A graph is replayed by issuing the same calls again between
// Graph.BeginReplay and Graph.Replay: they are matched, kernel by kernel,
// with the captured ones, and the arguments that differ (a learning rate,
// the bias corrections of Adam, a batch's offset into a permutation, the
// Philox offset of Dropout) are updated in the graph before it runs. The
// host still runs the calls' Go code, which costs far less than the
// launches; no value has to live on the device for a graph to see it
// change. Calls that do not match (another kernel, more or fewer
// launches) run eagerly, and Replay says so with ErrNotCaptured.
type Capturer interface {
	// BeginCapture starts recording. It fails when the device cannot run
	// graphs (OpenCL), when a capture or replay is already under way, or
	// with the sticky error.
	BeginCapture() error
	// EndCapture ends the recording, builds the graph and runs it once.
	// With an error wrapping ErrNotCaptured there is no graph, but the
	// calls have run eagerly; any other error is the sticky error or the
	// device's.
	EndCapture() (Graph, error)
}

// Graph is a sequence of kernels captured by a Capturer.
type Graph interface {
	// BeginReplay starts a replay: the calls that follow, until Replay,
	// are matched with the captured ones instead of being run.
	BeginReplay() error
	// Replay runs the graph, with the arguments of the calls issued since
	// BeginReplay; without BeginReplay it runs the graph as it last ran.
	// An error wrapping ErrNotCaptured means that the calls did not match
	// the graph and have run eagerly instead (their results are valid);
	// the graph is unchanged.
	Replay() error
	// Close releases the graph. A replay under way ends first, its calls
	// run eagerly.
	Close() error
}

// ErrNotCaptured is wrapped by the errors of Capturer.EndCapture and
// Graph.Replay when the calls ran eagerly instead of as a graph: a call
// that cannot be captured, or calls that do not match the graph. It is
// not a failure: the calls' results are valid.
var ErrNotCaptured = errors.New("calls ran eagerly, not as a graph")
