package cpu

import (
	"math"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu/internal/vec"
)

// Axpy computes y += alpha·x.
func (c *Backend) Axpy(n int, alpha float32, x, y backend.Buffer) {
	if !c.ok() {
		return
	}
	xd, yd := c.data(x, n, "Axpy", "x"), c.data(y, n, "Axpy", "y")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: xd, y: yd, alpha: alpha}
	c.run(n, 2, axpyRange)
}

func axpyRange(a *kernelArgs, lo, hi int) {
	x, y := a.x[lo:hi], a.y[lo:hi]
	for i, v := range x {
		y[i] += a.alpha * v
	}
}

// Scale computes x *= alpha.
func (c *Backend) Scale(n int, alpha float32, x backend.Buffer) {
	if !c.ok() {
		return
	}
	xd := c.data(x, n, "Scale", "x")
	c.args = kernelArgs{x: xd, alpha: alpha}
	c.run(len(xd), 1, scaleRange)
}

func scaleRange(a *kernelArgs, lo, hi int) {
	x := a.x[lo:hi]
	for i := range x {
		x[i] *= a.alpha
	}
}

// ActForward computes y = f(x).
func (c *Backend) ActForward(f backend.Activation, alpha float32, n int, x, y backend.Buffer) {
	if !c.ok() {
		return
	}
	xd, yd := c.data(x, n, "ActForward", "x"), c.data(y, n, "ActForward", "y")
	if c.err != nil {
		return
	}
	if err := f.Check(); err != nil {
		c.fail("ActForward: %w", err)
		return
	}
	c.args = kernelArgs{x: xd, y: yd, alpha: alpha, act: f}
	c.run(n, 8, actForwardRange)
}

func actForwardRange(a *kernelArgs, lo, hi int) {
	actForward(a.act, a.alpha, a.x[lo:hi], a.y[lo:hi])
}

// actForward computes y = f(x) (y may be x), for ActForward and for
// GemmBiasAct's epilogue, so that both give the same values; Identity
// copies.
func actForward(f backend.Activation, alpha float32, x, y []float32) {
	y = y[:len(x)]
	switch f {
	case backend.Identity:
		copy(y, x)
	case backend.Tanh:
		done := tanhVec(x, y) // AVX2 where the CPU has it, same bits
		for i, v := range x[done:] {
			y[done+i] = tanhf(v)
		}
	case backend.Sigmoid:
		for i, v := range x {
			y[i] = sigmoid(v)
		}
	case backend.ReLU:
		for i, v := range x {
			y[i] = max(v, 0)
		}
	case backend.LeakyReLU:
		for i, v := range x {
			if v > 0 {
				y[i] = v
			} else {
				y[i] = alpha * v
			}
		}
	}
}

func sigmoid(x float32) float32 {
	// Written so that neither branch overflows exp.
	if x >= 0 {
		return 1 / (1 + expf(-x))
	}
	e := expf(x)
	return e / (1 + e)
}

// ActBackward computes dx = f'(x)·dy.
func (c *Backend) ActBackward(f backend.Activation, alpha float32, n int, x, y, dy, dx backend.Buffer) {
	if !c.ok() {
		return
	}
	var xd, yd []float32
	if f == backend.Tanh || f == backend.Sigmoid {
		yd = c.data(y, n, "ActBackward", "y")
	} else {
		xd = c.data(x, n, "ActBackward", "x")
	}
	dyd, dxd := c.data(dy, n, "ActBackward", "dy"), c.data(dx, n, "ActBackward", "dx")
	if c.err != nil {
		return
	}
	if err := f.Check(); err != nil {
		c.fail("ActBackward: %w", err)
		return
	}
	if f == backend.ReLU {
		alpha = 0
	}
	c.args = kernelArgs{x: xd, y: yd, z: dyd, w: dxd, alpha: alpha, act: f}
	c.run(n, 3, actBackwardRange)
}

func actBackwardRange(a *kernelArgs, lo, hi int) {
	dy, dx := a.z[lo:hi], a.w[lo:hi]
	switch a.act {
	case backend.Tanh:
		y := a.y[lo:hi]
		for i, g := range dy {
			dx[i] = g * (1 - y[i]*y[i])
		}
	case backend.Sigmoid:
		y := a.y[lo:hi]
		for i, g := range dy {
			dx[i] = g * y[i] * (1 - y[i])
		}
	default: // ReLU (alpha 0) and LeakyReLU
		// dx = dy·s with s = 1 where x > 0, else alpha, chosen on x's
		// bits: x > 0 exactly when its bits less one lie below those of
		// +Inf (0 wraps round, negatives and NaNs are above), an integer
		// compare that compiles to a conditional move. A branch on the
		// sign of activations is mispredicted about every other value.
		x := a.x[lo:hi]
		x = x[:len(dy)]
		slope, one := math.Float32bits(a.alpha), math.Float32bits(1)
		for i, g := range dy {
			s := slope
			if math.Float32bits(x[i])-1 < 0x7f800000 {
				s = one
			}
			dx[i] = g * math.Float32frombits(s)
		}
	}
}

// dims checks a matrix shape.
func (c *Backend) dims(op string, rows, cols int) bool {
	if rows < 0 || cols < 0 {
		c.fail("%s: negative shape %d×%d", op, rows, cols)
		return false
	}
	return true
}

// AddRowVector adds v to every row of x.
func (c *Backend) AddRowVector(rows, cols int, v, x backend.Buffer) {
	if !c.ok() || !c.dims("AddRowVector", rows, cols) {
		return
	}
	vd, xd := c.data(v, cols, "AddRowVector", "v"), c.data(x, rows*cols, "AddRowVector", "x")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: xd, v: vd, cols: cols}
	c.run(rows, cols, addRowVectorRange)
}

func addRowVectorRange(a *kernelArgs, lo, hi int) {
	for r := lo; r < hi; r++ {
		row := a.x[r*a.cols : (r+1)*a.cols]
		for j, b := range a.v {
			row[j] += b
		}
	}
}

// SumRows computes dst = beta·dst + Σ rows of x.
//
// The rows are summed in fixed blocks of sumRowsBlock, each block's column
// sums kept in float64, and the blocks' sums added in order: a bias
// gradient over a tall, thin matrix (a convolution's N·OH·OW rows) reads
// each block's rows whole and in order, on every core, where a split over
// columns would stride through all of x on each. The order depends on the
// shape alone, so results do not depend on the number of cores.
func (c *Backend) SumRows(rows, cols int, x backend.Buffer, beta float32, dst backend.Buffer) {
	if !c.ok() || !c.dims("SumRows", rows, cols) {
		return
	}
	xd, dd := c.data(x, rows*cols, "SumRows", "x"), c.data(dst, cols, "SumRows", "dst")
	if c.err != nil || cols == 0 {
		return
	}
	blocks := max(1, (rows+sumRowsBlock-1)/sumRowsBlock)
	if cap(c.colPartial) < blocks*cols {
		c.colPartial = make([]float64, blocks*cols)
	}
	part := c.colPartial[:blocks*cols]
	c.args = kernelArgs{x: xd, rows: rows, cols: cols, partial: part}
	c.run(blocks, sumRowsBlock*cols, sumRowsRange)
	addBlockSums(part, blocks, beta, dd)
}

// addBlockSums sets dst = beta·dst + the sum, in block order, of the
// blocks' column sums in part (blocks × len(dst)); with beta = 0, dst is
// not read.
func addBlockSums(part []float64, blocks int, beta float32, dst []float32) {
	cols := len(dst)
	for j := range dst {
		var s float64
		for b := 0; b < blocks; b++ {
			s += part[b*cols+j]
		}
		if beta == 0 {
			dst[j] = float32(s)
		} else {
			dst[j] = float32(float64(beta)*float64(dst[j]) + s)
		}
	}
}

// sumRowsBlock is the number of rows SumRows sums together.
const sumRowsBlock = 256

// sumRowsRange writes the column sums of blocks [lo, hi).
func sumRowsRange(a *kernelArgs, lo, hi int) {
	cols := a.cols
	for b := lo; b < hi; b++ {
		s := a.partial[b*cols : (b+1)*cols]
		clear(s)
		for r := b * sumRowsBlock; r < min((b+1)*sumRowsBlock, a.rows); r++ {
			row := a.x[r*cols : (r+1)*cols]
			row = row[:len(s)]
			for j, v := range row {
				s[j] += float64(v)
			}
		}
	}
}

// Softmax computes the (log-)softmax of each row.
func (c *Backend) Softmax(log bool, rows, cols int, x, y backend.Buffer) {
	if !c.ok() || !c.dims("Softmax", rows, cols) {
		return
	}
	xd, yd := c.data(x, rows*cols, "Softmax", "x"), c.data(y, rows*cols, "Softmax", "y")
	if c.err != nil || cols == 0 {
		return
	}
	c.args = kernelArgs{x: xd, y: yd, log: log, cols: cols}
	c.run(rows, cols*8, softmaxRange)
}

func softmaxRange(a *kernelArgs, lo, hi int) {
	cols := a.cols
	for r := lo; r < hi; r++ {
		xr, yr := a.x[r*cols:(r+1)*cols], a.y[r*cols:(r+1)*cols]
		m := xr[0]
		for _, v := range xr[1:] {
			m = max(m, v)
		}
		var s float64
		for _, v := range xr {
			s += float64(expf(v - m))
		}
		if a.log {
			ls := float32(math.Log(s))
			for j, v := range xr {
				yr[j] = v - m - ls
			}
		} else {
			inv := float32(1 / s)
			for j, v := range xr {
				yr[j] = expf(v-m) * inv
			}
		}
	}
}

// SoftmaxBackward computes the input gradient of (log-)softmax.
func (c *Backend) SoftmaxBackward(log bool, rows, cols int, y, dy, dx backend.Buffer) {
	if !c.ok() || !c.dims("SoftmaxBackward", rows, cols) {
		return
	}
	n := rows * cols
	yd, dyd, dxd := c.data(y, n, "SoftmaxBackward", "y"), c.data(dy, n, "SoftmaxBackward", "dy"), c.data(dx, n, "SoftmaxBackward", "dx")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{y: yd, z: dyd, w: dxd, log: log, cols: cols}
	c.run(rows, cols*4, softmaxBackwardRange)
}

func softmaxBackwardRange(a *kernelArgs, lo, hi int) {
	cols := a.cols
	for r := lo; r < hi; r++ {
		o := r * cols
		yr, dyr, dxr := a.y[o:o+cols], a.z[o:o+cols], a.w[o:o+cols]
		var s float64
		if a.log {
			for _, g := range dyr {
				s += float64(g)
			}
			for j := range yr {
				dxr[j] = dyr[j] - float32(math.Exp(float64(yr[j]))*s)
			}
		} else {
			for j := range yr {
				s += float64(dyr[j]) * float64(yr[j])
			}
			for j := range yr {
				dxr[j] = yr[j] * (dyr[j] - float32(s))
			}
		}
	}
}

// Loss computes a mean pointwise loss and its gradient. It runs on one
// goroutine: the sum must not depend on the number of cores.
func (c *Backend) Loss(l backend.PointwiseLoss, n int, pred, target, grad, loss backend.Buffer) {
	if !c.ok() {
		return
	}
	pd, td := c.data(pred, n, "Loss", "pred"), c.data(target, n, "Loss", "target")
	gd, ld := c.data(grad, n, "Loss", "grad"), c.data(loss, 1, "Loss", "loss")
	if c.err != nil {
		return
	}
	if n == 0 {
		c.fail("Loss: no elements")
		return
	}
	inv := 1 / float64(n)
	var total float64
	switch l {
	case backend.MSE:
		for i := range pd {
			d := float64(pd[i]) - float64(td[i])
			total += d * d
			gd[i] = float32(2 * d * inv)
		}
	case backend.BCE:
		for i := range pd {
			p, t := float64(pd[i]), float64(td[i])
			total -= t*max(math.Log(p), -100) + (1-t)*max(math.Log1p(-p), -100)
			gd[i] = float32((p - t) / max(p*(1-p), 1e-12) * inv)
		}
	case backend.BCEWithLogits:
		for i := range pd {
			x, t := float64(pd[i]), float64(td[i])
			total += max(x, 0) - x*t + math.Log1p(math.Exp(-math.Abs(x)))
			gd[i] = float32((float64(sigmoid(pd[i])) - t) * inv)
		}
	default:
		c.fail("Loss: %w", l.Check())
		return
	}
	ld[0] = float32(total * inv)
}

// CrossEntropy computes mean softmax cross-entropy against class indices.
func (c *Backend) CrossEntropy(rows, cols int, logits, labels, grad, loss backend.Buffer) {
	if !c.ok() || !c.dims("CrossEntropy", rows, cols) {
		return
	}
	xd, yd := c.data(logits, rows*cols, "CrossEntropy", "logits"), c.data(labels, rows, "CrossEntropy", "labels")
	gd, ld := c.data(grad, rows*cols, "CrossEntropy", "grad"), c.data(loss, 1, "CrossEntropy", "loss")
	if c.err != nil {
		return
	}
	if rows == 0 || cols == 0 {
		c.fail("CrossEntropy: empty %d×%d logits", rows, cols)
		return
	}
	inv := 1 / float64(rows)
	var total float64
	for r := 0; r < rows; r++ {
		lf := yd[r]
		label := int(lf)
		if float32(label) != lf || label < 0 || label >= cols {
			c.fail("CrossEntropy: label %v of row %d is not a class index in [0, %d)", lf, r, cols)
			return
		}
		xr, gr := xd[r*cols:(r+1)*cols], gd[r*cols:(r+1)*cols]
		m := xr[0]
		for _, v := range xr[1:] {
			m = max(m, v)
		}
		// Each e^(x-m) once (math.Exp is most of this serial kernel's
		// time): kept for the gradient e^(x-m)/s where the row fits on the
		// stack, recomputed as e^(x-lse) otherwise.
		var exps [64]float64
		var s float64
		for j, v := range xr {
			e := math.Exp(float64(v - m))
			if j < len(exps) {
				exps[j] = e
			}
			s += e
		}
		lse := float64(m) + math.Log(s)
		total += lse - float64(xr[label])
		if cols <= len(exps) {
			scale := inv / s
			for j := range gr {
				gr[j] = float32(exps[j] * scale)
			}
		} else {
			for j, v := range xr {
				gr[j] = float32(math.Exp(float64(v)-lse) * inv)
			}
		}
		gr[label] -= float32(inv)
	}
	ld[0] = float32(total * inv)
}

// SGD applies one fused SGD update.
func (c *Backend) SGD(n int, s backend.SGDStep, param, grad, velocity backend.Buffer) {
	if !c.ok() {
		return
	}
	pd, gd := c.data(param, n, "SGD", "param"), c.data(grad, n, "SGD", "grad")
	var vd []float32
	if s.Momentum != 0 {
		vd = c.data(velocity, n, "SGD", "velocity")
	}
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: pd, y: gd, z: vd, sgd: s}
	c.run(n, 3, sgdRange)
}

func sgdRange(a *kernelArgs, lo, hi int) {
	// Locals, not fields: stores to the slices would otherwise make the
	// compiler reload the hyper-parameters on every iteration.
	lr, mom, wd := a.sgd.LR, a.sgd.Momentum, a.sgd.WeightDecay
	p, gr := a.x[lo:hi], a.y[lo:hi]
	gr = gr[:len(p)]
	if mom == 0 {
		for i, g := range gr {
			p[i] -= lr * (g + wd*p[i])
		}
		return
	}
	v := a.z[lo:hi]
	v = v[:len(p)]
	if a.sgd.Nesterov {
		for i, g := range gr {
			g += wd * p[i]
			vi := mom*v[i] + g
			v[i] = vi
			p[i] -= lr * (g + mom*vi)
		}
		return
	}
	done := sgdMomentumVec(p, gr, v, lr, mom, wd) // AVX2 where the CPU has it, same bits
	for i, g := range gr[done:] {
		i += done
		vi := mom*v[i] + g + wd*p[i]
		v[i] = vi
		p[i] -= lr * vi
	}
}

// Adam applies one fused Adam or AdamW update.
func (c *Backend) Adam(n int, s backend.AdamStep, param, grad, m, v backend.Buffer) {
	if !c.ok() {
		return
	}
	pd, gd := c.data(param, n, "Adam", "param"), c.data(grad, n, "Adam", "grad")
	md, vd := c.data(m, n, "Adam", "m"), c.data(v, n, "Adam", "v")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: pd, y: gd, z: md, w: vd, adam: s}
	c.run(n, 4, adamRange)
}

func adamRange(a *kernelArgs, lo, hi int) {
	s := a.adam // a copy, for the reason given in sgdRange
	stepSize := s.LR / s.BC1
	invSqrtBC2 := float32(1 / math.Sqrt(float64(s.BC2)))
	decay := 1 - s.LR*s.WeightDecay
	p, gr, m, v := a.x[lo:hi], a.y[lo:hi], a.z[lo:hi], a.w[lo:hi]
	gr, m, v = gr[:len(p)], m[:len(p)], v[:len(p)]
	k := vec.AdamConsts{Beta1: s.Beta1, OneMinusBeta1: s.OneMinusBeta1, Beta2: s.Beta2, OneMinusBeta2: s.OneMinusBeta2,
		InvSqrtBC2: invSqrtBC2, Eps: s.Eps, StepSize: stepSize, Decay: s.WeightDecay}
	if s.Decoupled {
		k.Decay, k.Decoupled = decay, 1
	}
	done := adamVec(p, gr, m, v, &k) // AVX2 where the CPU has it, same bits
	for i, g := range gr[done:] {
		i += done
		pi := p[i]
		if s.Decoupled {
			pi *= decay
		} else {
			g += s.WeightDecay * pi
		}
		mi := s.Beta1*m[i] + s.OneMinusBeta1*g
		vi := s.Beta2*v[i] + s.OneMinusBeta2*g*g
		m[i], v[i] = mi, vi
		denom := float32(math.Sqrt(float64(vi)))*invSqrtBC2 + s.Eps
		p[i] = pi - stepSize*mi/denom
	}
}

// GatherRows copies rows of src selected by idx into dst.
func (c *Backend) GatherRows(n, cols int, src, idx backend.Buffer, off int, dst backend.Buffer) {
	if !c.ok() || !c.dims("GatherRows", n, cols) {
		return
	}
	if off < 0 {
		c.fail("GatherRows: negative offset %d", off)
		return
	}
	id := c.data(idx, off+n, "GatherRows", "idx")
	dd := c.data(dst, n*cols, "GatherRows", "dst")
	c.data(src, 0, "GatherRows", "src")
	if c.err != nil || cols == 0 {
		return
	}
	sd := src.(*buffer).data
	srcRows := len(sd) / cols
	for i, f := range id[off:] {
		r := int(f)
		if float32(r) != f || r < 0 || r >= srcRows {
			c.fail("GatherRows: index %v at %d is not a row of a %d-row source", f, off+i, srcRows)
			return
		}
	}
	c.args = kernelArgs{x: sd, y: id[off:], z: dd, cols: cols}
	c.run(n, cols, gatherRange)
}

func gatherRange(a *kernelArgs, lo, hi int) {
	cols := a.cols
	for i := lo; i < hi; i++ {
		r := int(a.y[i])
		copy(a.z[i*cols:(i+1)*cols], a.x[r*cols:(r+1)*cols])
	}
}

// ArgmaxRows writes the index of each row's maximum.
func (c *Backend) ArgmaxRows(rows, cols int, x, dst backend.Buffer) {
	if !c.ok() || !c.dims("ArgmaxRows", rows, cols) {
		return
	}
	xd, dd := c.data(x, rows*cols, "ArgmaxRows", "x"), c.data(dst, rows, "ArgmaxRows", "dst")
	if c.err != nil || cols == 0 {
		return
	}
	for r := range dd {
		xr := xd[r*cols : (r+1)*cols]
		best := 0
		for j, v := range xr {
			if v > xr[best] {
				best = j
			}
		}
		dd[r] = float32(best)
	}
}
