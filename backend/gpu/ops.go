package gpu

import (
	"github.com/diynn/diynn/backend"
)

func (b *Backend) dims(op string, rows, cols int) bool {
	if rows < 0 || cols < 0 {
		b.fail("%s: negative shape %d×%d", op, rows, cols)
		return false
	}
	return true
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C with the tiled kernel.
func (b *Backend) Gemm(transA, transB bool, m, n, k int, alpha float32, a, bb backend.Buffer, beta float32, c backend.Buffer) {
	b.gemm("Gemm", transA, transB, m, n, k, alpha, a, bb, beta, c, nil, backend.Identity, 0)
}

// GemmBiasAct computes C = f(alpha·op(A)·op(B) + beta·C + bias)
// (backend.FusedLinear): the GEMM kernels apply the bias and the
// activation as they store C (nn.kern's epilogue).
func (b *Backend) GemmBiasAct(transA, transB bool, m, n, k int, alpha float32, a, bb backend.Buffer, beta float32, c backend.Buffer, bias backend.Buffer, f backend.Activation, fAlpha float32) {
	if !b.ok() {
		return
	}
	if err := f.CheckEpilogue(); err != nil {
		b.fail("GemmBiasAct: %w", err)
		return
	}
	b.gemm("GemmBiasAct", transA, transB, m, n, k, alpha, a, bb, beta, c, bias, f, fAlpha)
}

// gemm launches the GEMM kernel for the shape, with the epilogue bias (nil:
// none) and act.
func (b *Backend) gemm(op string, transA, transB bool, m, n, k int, alpha float32, a, bb backend.Buffer, beta float32, c backend.Buffer,
	bias backend.Buffer, act backend.Activation, actAlpha float32) {
	if !b.ok() {
		return
	}
	if m < 0 || n < 0 || k < 0 {
		b.fail("%s: negative size m=%d n=%d k=%d", op, m, n, k)
		return
	}
	ab, bbuf, cb := b.buf(a, m*k, op, "A"), b.buf(bb, k*n, op, "B"), b.buf(c, m*n, op, "C")
	biasb, hasBias := b.dummy, bias != nil
	if hasBias {
		biasb = b.buf(bias, n, op, "bias")
	}
	if b.err != nil || m == 0 || n == 0 {
		return
	}
	switch kernel, slices, chunk := b.gemmPlan(m, n, k); kernel {
	case "gemm_big", "gemm_pipe":
		// A block of 16×16 threads computes a 128×128 tile of C.
		b.launch(kernel, [2]int{(n + 127) / 128, (m + 127) / 128}, [2]int{16, 16}, m, n, k, alpha, beta, ab, bbuf, cb, transA, transB,
			biasb, hasBias, int(act), actAlpha)
	case "split":
		part := b.gemmPartFor(slices * m * n)
		b.launch("gemm", [2]int{(n + 63) / 64, (m + 63) / 64 * slices}, [2]int{16, 16}, m, n, k, alpha, beta, ab, bbuf, cb, transA, transB, chunk, part,
			biasb, hasBias, int(act), actAlpha)
		b.launch1D("gemm_reduce", m*n, m*n, slices, alpha, beta, part, cb, n, biasb, hasBias, int(act), actAlpha)
	default:
		// A block of 16×16 threads computes a 64×64 tile of C.
		b.launch("gemm", [2]int{(n + 63) / 64, (m + 63) / 64}, [2]int{16, 16}, m, n, k, alpha, beta, ab, bbuf, cb, transA, transB, k, b.dummy,
			biasb, hasBias, int(act), actAlpha)
	}
}

// ActBackwardSumRows computes dx = f'(y)·dy and dbias = beta·dbias + Σ
// rows of dx in one kernel (backend.FusedLinear).
func (b *Backend) ActBackwardSumRows(f backend.Activation, fAlpha float32, rows, cols int, y, dy, dx backend.Buffer, beta float32, dbias backend.Buffer) {
	const op = "ActBackwardSumRows"
	if !b.ok() || !b.dims(op, rows, cols) {
		return
	}
	if err := f.CheckEpilogue(); err != nil {
		b.fail("%s: %w", op, err)
		return
	}
	n := rows * cols
	yb, dyb, dxb := b.buf(y, n, op, "y"), b.buf(dy, n, op, "dy"), b.buf(dx, n, op, "dx")
	db, hasDst := b.dummy, dbias != nil
	if hasDst {
		db = b.buf(dbias, cols, op, "dbias")
	}
	if b.err != nil || cols == 0 {
		return
	}
	b.launch1D("act_backward_sum_rows", cols, int(f), fAlpha, rows, cols, yb, dyb, dxb, beta, db, hasDst)
}

// gemmPlan chooses the GEMM kernel for an m×n×k product: gemm_big when
// its 128×128 tiles still give every multiprocessor two work-groups;
// gemm with K split into slices (then gemm_reduce) when C has so few 64×64
// tiles that most multiprocessors would idle through a long K; else gemm.
// DIYNN_GPU_GEMM=tile|big|split forces one (tests use it to run each kernel
// on every shape; split then cuts K into up to 8 slices), and =pipe
// gemm_pipe, gemm_big's double-buffered variant, not chosen by shape until
// it is measured on a GPU.
func (b *Backend) gemmPlan(m, n, k int) (kernel string, slices, chunk int) {
	const tk = 16 // gemm's K step: slices are whole steps
	tiles := ((m + 63) / 64) * ((n + 63) / 64)
	switch b.gemmMode {
	case "big":
		return "gemm_big", 1, k
	case "pipe":
		return "gemm_pipe", 1, k
	case "split":
		// At most 8 slices, the last one partial where K allows, so that
		// the partial sums of a large C stay small.
		if k > tk {
			slices, chunk = splitK(k, min((k+tk-1)/tk, 8))
			return "split", slices, chunk
		}
		return "gemm", 1, k
	case "tile":
		return "gemm", 1, k
	}
	if ((m+127)/128)*((n+127)/128) >= 2*b.processors {
		return "gemm_big", 1, k
	}
	// Slices of at least 64 values of K, enough of them to give each
	// multiprocessor a work-group, when C alone fills under half of them.
	if k >= 512 && 2*tiles <= b.processors {
		slices, chunk = splitK(k, min(b.processors/tiles, k/64, 16))
		return "split", slices, chunk
	}
	return "gemm", 1, k
}

// Axpy computes y += alpha·x.
func (b *Backend) Axpy(n int, alpha float32, x, y backend.Buffer) {
	if !b.ok() {
		return
	}
	xb, yb := b.buf(x, n, "Axpy", "x"), b.buf(y, n, "Axpy", "y")
	b.launch1D("axpy", n, n, alpha, xb, yb)
}

// Scale computes x *= alpha.
func (b *Backend) Scale(n int, alpha float32, x backend.Buffer) {
	if !b.ok() {
		return
	}
	xb := b.buf(x, n, "Scale", "x")
	b.launch1D("scale", n, n, alpha, xb)
}

// ActForward computes y = f(x).
func (b *Backend) ActForward(f backend.Activation, alpha float32, n int, x, y backend.Buffer) {
	if !b.ok() {
		return
	}
	if err := f.Check(); err != nil {
		b.fail("ActForward: %w", err)
		return
	}
	xb, yb := b.buf(x, n, "ActForward", "x"), b.buf(y, n, "ActForward", "y")
	b.launch1D("act_forward", n, int(f), alpha, n, xb, yb)
}

// ActBackward computes dx = f'(x)·dy.
func (b *Backend) ActBackward(f backend.Activation, alpha float32, n int, x, y, dy, dx backend.Buffer) {
	if !b.ok() {
		return
	}
	if err := f.Check(); err != nil {
		b.fail("ActBackward: %w", err)
		return
	}
	var xb, yb *buffer
	if f == backend.Tanh || f == backend.Sigmoid {
		yb, xb = b.buf(y, n, "ActBackward", "y"), b.dummy
	} else {
		xb, yb = b.buf(x, n, "ActBackward", "x"), b.dummy
	}
	dyb, dxb := b.buf(dy, n, "ActBackward", "dy"), b.buf(dx, n, "ActBackward", "dx")
	b.launch1D("act_backward", n, int(f), alpha, n, xb, yb, dyb, dxb)
}

// AddRowVector adds v to every row of x.
func (b *Backend) AddRowVector(rows, cols int, v, x backend.Buffer) {
	if !b.ok() || !b.dims("AddRowVector", rows, cols) {
		return
	}
	vb, xb := b.buf(v, cols, "AddRowVector", "v"), b.buf(x, rows*cols, "AddRowVector", "x")
	b.launch1D("add_row_vector", rows*cols, rows, cols, vb, xb)
}

// SumRows computes dst = beta·dst + Σ rows of x.
func (b *Backend) SumRows(rows, cols int, x backend.Buffer, beta float32, dst backend.Buffer) {
	if !b.ok() || !b.dims("SumRows", rows, cols) {
		return
	}
	xb, db := b.buf(x, rows*cols, "SumRows", "x"), b.buf(dst, cols, "SumRows", "dst")
	b.launch1D("sum_rows", cols, rows, cols, xb, beta, db)
}

// Softmax computes the (log-)softmax of each row.
func (b *Backend) Softmax(log bool, rows, cols int, x, y backend.Buffer) {
	if !b.ok() || !b.dims("Softmax", rows, cols) {
		return
	}
	xb, yb := b.buf(x, rows*cols, "Softmax", "x"), b.buf(y, rows*cols, "Softmax", "y")
	if cols == 0 {
		return
	}
	b.launch1D("softmax_rows", rows, log, rows, cols, xb, yb)
}

// SoftmaxBackward computes the input gradient of (log-)softmax.
func (b *Backend) SoftmaxBackward(log bool, rows, cols int, y, dy, dx backend.Buffer) {
	if !b.ok() || !b.dims("SoftmaxBackward", rows, cols) {
		return
	}
	n := rows * cols
	yb, dyb, dxb := b.buf(y, n, "SoftmaxBackward", "y"), b.buf(dy, n, "SoftmaxBackward", "dy"), b.buf(dx, n, "SoftmaxBackward", "dx")
	b.launch1D("softmax_backward", rows, log, rows, cols, yb, dyb, dxb)
}

// scratchFor returns the scratch buffer of reductions, at least n values.
func (b *Backend) scratchFor(n int) *buffer { return b.grow(&b.scratch, n) }

// splitK cuts k into about the given number of slices of whole 16-value
// steps of gemm (the last one partial); it returns how many it made.
func splitK(k, slices int) (n, chunk int) {
	const tk = 16
	chunk = ((k+slices-1)/slices + tk - 1) / tk * tk
	return (k + chunk - 1) / chunk, chunk
}

// gemmPartFor returns the buffer of split-K partial sums, at least n values.
func (b *Backend) gemmPartFor(n int) *buffer { return b.grow(&b.gemmPart, n) }

// grow returns *buf, replaced by a larger buffer first if it holds fewer
// than n values. Internal buffers are kept between calls, so that a
// training step allocates nothing, and are not counted as the caller's.
func (b *Backend) grow(buf **buffer, n int) *buffer {
	if *buf == nil || (*buf).n < n {
		stats := b.stats
		if *buf != nil {
			b.Free(*buf)
		}
		*buf = b.Alloc(n).(*buffer)
		b.stats = stats
	}
	return *buf
}

// Loss computes a mean pointwise loss and its gradient.
func (b *Backend) Loss(l backend.PointwiseLoss, n int, pred, target, grad, loss backend.Buffer) {
	if !b.ok() {
		return
	}
	if err := l.Check(); err != nil {
		b.fail("Loss: %w", err)
		return
	}
	pb, tb := b.buf(pred, n, "Loss", "pred"), b.buf(target, n, "Loss", "target")
	gb, lb := b.buf(grad, n, "Loss", "grad"), b.buf(loss, 1, "Loss", "loss")
	if b.err != nil {
		return
	}
	if n == 0 {
		b.fail("Loss: no elements")
		return
	}
	s := b.scratchFor(n)
	b.launch1D("loss_pointwise", n, int(l), n, pb, tb, gb, s)
	b.reduce(n, s, 1/float32(n), lb)
}

// reduce writes scale·Σ x[0..n) into out[0] with one work-group.
func (b *Backend) reduce(n int, x *buffer, scale float32, out *buffer) {
	if b.err != nil {
		return
	}
	b.launch("reduce_sum", [2]int{1, 1}, [2]int{256, 1}, n, x, scale, out)
}

// CrossEntropy computes mean softmax cross-entropy against class indices.
func (b *Backend) CrossEntropy(rows, cols int, logits, labels, grad, loss backend.Buffer) {
	if !b.ok() || !b.dims("CrossEntropy", rows, cols) {
		return
	}
	xb, yb := b.buf(logits, rows*cols, "CrossEntropy", "logits"), b.buf(labels, rows, "CrossEntropy", "labels")
	gb, lb := b.buf(grad, rows*cols, "CrossEntropy", "grad"), b.buf(loss, 1, "CrossEntropy", "loss")
	if b.err != nil {
		return
	}
	if rows == 0 || cols == 0 {
		b.fail("CrossEntropy: empty %d×%d logits", rows, cols)
		return
	}
	s := b.scratchFor(rows)
	b.flagged = true
	b.launch1D("cross_entropy_rows", rows, rows, cols, xb, yb, gb, s, b.errflag)
	b.reduce(rows, s, 1/float32(rows), lb)
}

// SGD applies one fused SGD update.
func (b *Backend) SGD(n int, s backend.SGDStep, param, grad, velocity backend.Buffer) {
	if !b.ok() {
		return
	}
	pb, gb := b.buf(param, n, "SGD", "param"), b.buf(grad, n, "SGD", "grad")
	vb := b.dummy
	if s.Momentum != 0 {
		vb = b.buf(velocity, n, "SGD", "velocity")
	}
	b.launch1D("sgd_step", n, n, s.LR, s.Momentum, s.WeightDecay, s.Nesterov, pb, gb, vb)
}

// Adam applies one fused Adam or AdamW update.
func (b *Backend) Adam(n int, s backend.AdamStep, param, grad, m, v backend.Buffer) {
	if !b.ok() {
		return
	}
	pb, gb := b.buf(param, n, "Adam", "param"), b.buf(grad, n, "Adam", "grad")
	mb, vb := b.buf(m, n, "Adam", "m"), b.buf(v, n, "Adam", "v")
	b.launch1D("adam_step", n, n, s.LR, s.Beta1, s.Beta2, s.OneMinusBeta1, s.OneMinusBeta2, s.Eps, s.WeightDecay, s.BC1, s.BC2, s.Decoupled, pb, gb, mb, vb)
}

// GatherRows copies rows of src selected by idx into dst.
func (b *Backend) GatherRows(n, cols int, src, idx backend.Buffer, off int, dst backend.Buffer) {
	if !b.ok() || !b.dims("GatherRows", n, cols) {
		return
	}
	if off < 0 {
		b.fail("GatherRows: negative offset %d", off)
		return
	}
	ib := b.buf(idx, off+n, "GatherRows", "idx")
	db := b.buf(dst, n*cols, "GatherRows", "dst")
	sb := b.buf(src, 0, "GatherRows", "src")
	if b.err != nil || cols == 0 {
		return
	}
	b.flagged = true
	b.launch1D("gather_rows", n*cols, n, cols, sb.n/cols, sb, ib, off, db, b.errflag)
}

// ArgmaxRows writes the index of each row's maximum.
func (b *Backend) ArgmaxRows(rows, cols int, x, dst backend.Buffer) {
	if !b.ok() || !b.dims("ArgmaxRows", rows, cols) {
		return
	}
	xb, db := b.buf(x, rows*cols, "ArgmaxRows", "x"), b.buf(dst, rows, "ArgmaxRows", "dst")
	if cols == 0 {
		return
	}
	b.launch1D("argmax_rows", rows, rows, cols, xb, db)
}

// Fill sets n values to v.
func (b *Backend) Fill(n int, v float32, dst backend.Buffer) {
	if !b.ok() {
		return
	}
	if d := b.buf(dst, n, "Fill", "dst"); d != nil {
		b.launch1D("fill", n, n, v, d)
	}
}

// Mul computes dst = x ⊙ y.
func (b *Backend) Mul(n int, x, y, dst backend.Buffer) {
	if !b.ok() {
		return
	}
	xb, yb, db := b.buf(x, n, "Mul", "x"), b.buf(y, n, "Mul", "y"), b.buf(dst, n, "Mul", "dst")
	b.launch1D("mul", n, n, xb, yb, db)
}

// MulRowVector computes y = x ⊙ v for every row of x.
func (b *Backend) MulRowVector(rows, cols int, v, x, y backend.Buffer) {
	if !b.ok() || !b.dims("MulRowVector", rows, cols) {
		return
	}
	vb := b.buf(v, cols, "MulRowVector", "v")
	xb, yb := b.buf(x, rows*cols, "MulRowVector", "x"), b.buf(y, rows*cols, "MulRowVector", "y")
	b.launch1D("mul_row_vector", rows*cols, rows, cols, vb, xb, yb)
}

// ScaleBy computes y = alpha·s[0]·x.
func (b *Backend) ScaleBy(n int, alpha float32, s, x, y backend.Buffer) {
	if !b.ok() {
		return
	}
	sb := b.buf(s, 1, "ScaleBy", "s")
	xb, yb := b.buf(x, n, "ScaleBy", "x"), b.buf(y, n, "ScaleBy", "y")
	b.launch1D("scale_by", n, n, alpha, sb, xb, yb)
}

// SumSquares computes out[0] = beta·out[0] + Σ x² with one work-group, in
// a fixed order.
func (b *Backend) SumSquares(n int, x backend.Buffer, beta float32, out backend.Buffer) {
	if !b.ok() {
		return
	}
	xb, ob := b.buf(x, n, "SumSquares", "x"), b.buf(out, 1, "SumSquares", "out")
	b.launch("sum_squares", [2]int{1, 1}, [2]int{256, 1}, n, xb, beta, ob)
}

// ClipFactor computes factor[0] = min(1, maxNorm/(√sumSquares[0] + 1e-6)).
func (b *Backend) ClipFactor(maxNorm float32, sumSquares, factor backend.Buffer) {
	if !b.ok() {
		return
	}
	sb, fb := b.buf(sumSquares, 1, "ClipFactor", "sumSquares"), b.buf(factor, 1, "ClipFactor", "factor")
	b.launch1D("clip_factor", 1, maxNorm, sb, fb)
}

// Random fills dst from Philox 4×32-10, one work-item per value.
func (b *Backend) Random(dist backend.Distribution, n int, seed, offset uint64, a, bb float32, dst backend.Buffer) {
	if !b.ok() {
		return
	}
	if err := dist.Check(); err != nil {
		b.fail("Random: %w", err)
		return
	}
	db := b.buf(dst, n, "Random", "dst")
	// Kernel arguments are 32-bit ints: the 64-bit seed and offset travel
	// as halves, each a uint32 reinterpreted as an int32.
	half := func(v uint64) int { return int(int32(uint32(v))) }
	b.launch1D("random_fill", n, int(dist), n, half(seed), half(seed>>32), half(offset), half(offset>>32), a, bb, db)
}

var _ backend.FusedLinear = (*Backend)(nil)
