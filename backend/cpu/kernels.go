package cpu

import (
	"math"

	"github.com/diynn/diynn/backend"
	"gonum.org/v1/gonum/blas"
)

// Gemm computes C = alpha·op(A)·op(B) + beta·C through the build's BLAS.
func (c *Backend) Gemm(transA, transB bool, m, n, k int, alpha float32, a, b backend.Buffer, beta float32, cb backend.Buffer) {
	if !c.ok() {
		return
	}
	if m < 0 || n < 0 || k < 0 {
		c.fail("Gemm: negative size m=%d n=%d k=%d", m, n, k)
		return
	}
	ad, bd, cd := c.data(a, m*k, "Gemm", "A"), c.data(b, k*n, "Gemm", "B"), c.data(cb, m*n, "Gemm", "C")
	if c.err != nil || m == 0 || n == 0 {
		return
	}
	if k == 0 {
		// BLAS leaves C alone when k is 0 only if beta is 1; be explicit.
		c.Scale(m*n, beta, cb)
		if beta == 0 {
			clear(cd)
		}
		return
	}
	ta, lda := blas.NoTrans, k
	if transA {
		ta, lda = blas.Trans, m
	}
	tb, ldb := blas.NoTrans, n
	if transB {
		tb, ldb = blas.Trans, k
	}
	if beta == 0 {
		// BLAS must not propagate NaN from an unread C; clear it first.
		clear(cd)
	}
	c.gemm.Sgemm(ta, tb, m, n, k, alpha, ad, lda, bd, ldb, beta, cd, n)
}

// Axpy computes y += alpha·x.
func (c *Backend) Axpy(n int, alpha float32, x, y backend.Buffer) {
	if !c.ok() {
		return
	}
	xd, yd := c.data(x, n, "Axpy", "x"), c.data(y, n, "Axpy", "y")
	if c.err != nil {
		return
	}
	parallel(n, 2, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			yd[i] += alpha * xd[i]
		}
	})
}

// Scale computes x *= alpha.
func (c *Backend) Scale(n int, alpha float32, x backend.Buffer) {
	if !c.ok() {
		return
	}
	xd := c.data(x, n, "Scale", "x")
	parallel(len(xd), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xd[i] *= alpha
		}
	})
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
	var fn func(lo, hi int)
	switch f {
	case backend.Tanh:
		fn = func(lo, hi int) {
			for i := lo; i < hi; i++ {
				yd[i] = float32(math.Tanh(float64(xd[i])))
			}
		}
	case backend.Sigmoid:
		fn = func(lo, hi int) {
			for i := lo; i < hi; i++ {
				yd[i] = sigmoid(xd[i])
			}
		}
	case backend.ReLU:
		fn = func(lo, hi int) {
			for i := lo; i < hi; i++ {
				yd[i] = max(xd[i], 0)
			}
		}
	case backend.LeakyReLU:
		fn = func(lo, hi int) {
			for i := lo; i < hi; i++ {
				if v := xd[i]; v > 0 {
					yd[i] = v
				} else {
					yd[i] = alpha * v
				}
			}
		}
	default:
		c.fail("ActForward: unknown activation %v", f)
		return
	}
	parallel(n, 8, fn)
}

func sigmoid(x float32) float32 {
	// Written so that neither branch overflows exp.
	if x >= 0 {
		return float32(1 / (1 + math.Exp(-float64(x))))
	}
	e := math.Exp(float64(x))
	return float32(e / (1 + e))
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
	var fn func(lo, hi int)
	switch f {
	case backend.Tanh:
		fn = func(lo, hi int) {
			for i := lo; i < hi; i++ {
				dxd[i] = dyd[i] * (1 - yd[i]*yd[i])
			}
		}
	case backend.Sigmoid:
		fn = func(lo, hi int) {
			for i := lo; i < hi; i++ {
				dxd[i] = dyd[i] * yd[i] * (1 - yd[i])
			}
		}
	case backend.ReLU, backend.LeakyReLU:
		slope := alpha
		if f == backend.ReLU {
			slope = 0
		}
		fn = func(lo, hi int) {
			for i := lo; i < hi; i++ {
				if xd[i] > 0 {
					dxd[i] = dyd[i]
				} else {
					dxd[i] = slope * dyd[i]
				}
			}
		}
	default:
		c.fail("ActBackward: unknown activation %v", f)
		return
	}
	parallel(n, 3, fn)
}

// AddRowVector adds v to every row of x.
func (c *Backend) AddRowVector(rows, cols int, v, x backend.Buffer) {
	if !c.ok() {
		return
	}
	if !c.dims("AddRowVector", rows, cols) {
		return
	}
	vd, xd := c.data(v, cols, "AddRowVector", "v"), c.data(x, rows*cols, "AddRowVector", "x")
	if c.err != nil {
		return
	}
	parallel(rows, cols, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := xd[r*cols : (r+1)*cols]
			for j, b := range vd {
				row[j] += b
			}
		}
	})
}

// dims checks a matrix shape.
func (c *Backend) dims(op string, rows, cols int) bool {
	if rows < 0 || cols < 0 {
		c.fail("%s: negative shape %d×%d", op, rows, cols)
		return false
	}
	return true
}

// SumRows computes dst = beta·dst + Σ rows of x.
func (c *Backend) SumRows(rows, cols int, x backend.Buffer, beta float32, dst backend.Buffer) {
	if !c.ok() || !c.dims("SumRows", rows, cols) {
		return
	}
	xd, dd := c.data(x, rows*cols, "SumRows", "x"), c.data(dst, cols, "SumRows", "dst")
	if c.err != nil {
		return
	}
	// Parallel over columns keeps each sum in one goroutine, so results do
	// not depend on the number of cores.
	parallel(cols, rows, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			var s float32
			for r := 0; r < rows; r++ {
				s += xd[r*cols+j]
			}
			if beta == 0 {
				dd[j] = s
			} else {
				dd[j] = beta*dd[j] + s
			}
		}
	})
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
	parallel(rows, cols*4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := xd[r*cols:(r+1)*cols], yd[r*cols:(r+1)*cols]
			m := xr[0]
			for _, v := range xr[1:] {
				m = max(m, v)
			}
			var s float64
			for _, v := range xr {
				s += math.Exp(float64(v - m))
			}
			if log {
				ls := float32(math.Log(s))
				for j, v := range xr {
					yr[j] = v - m - ls
				}
			} else {
				inv := 1 / s
				for j, v := range xr {
					yr[j] = float32(math.Exp(float64(v-m)) * inv)
				}
			}
		}
	})
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
	parallel(rows, cols*4, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o := r * cols
			yr, dyr, dxr := yd[o:o+cols], dyd[o:o+cols], dxd[o:o+cols]
			var s float64
			if log {
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
	})
}

// Loss computes a mean pointwise loss and its gradient.
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
		c.fail("Loss: unknown loss %v", l)
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
		var s float64
		for _, v := range xr {
			s += math.Exp(float64(v - m))
		}
		lse := float64(m) + math.Log(s)
		total += lse - float64(xr[label])
		for j, v := range xr {
			gr[j] = float32(math.Exp(float64(v)-lse) * inv)
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
	parallel(n, 3, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := gd[i] + s.WeightDecay*pd[i]
			if s.Momentum != 0 {
				v := s.Momentum*vd[i] + g
				vd[i] = v
				if s.Nesterov {
					g += s.Momentum * v
				} else {
					g = v
				}
			}
			pd[i] -= s.LR * g
		}
	})
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
	stepSize := s.LR / s.BC1
	sqrtBC2 := float32(math.Sqrt(float64(s.BC2)))
	parallel(n, 4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p, g := pd[i], gd[i]
			if s.Decoupled {
				p *= 1 - s.LR*s.WeightDecay
			} else {
				g += s.WeightDecay * p
			}
			mi := s.Beta1*md[i] + (1-s.Beta1)*g
			vi := s.Beta2*vd[i] + (1-s.Beta2)*g*g
			md[i], vd[i] = mi, vi
			denom := float32(math.Sqrt(float64(vi)))/sqrtBC2 + s.Eps
			pd[i] = p - stepSize*mi/denom
		}
	})
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
	parallel(n, cols, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := int(id[off+i])
			copy(dd[i*cols:(i+1)*cols], sd[r*cols:(r+1)*cols])
		}
	})
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
