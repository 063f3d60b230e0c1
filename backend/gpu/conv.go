package gpu

import "github.com/diynn/diynn/backend"

// Convolution, pooling and batch normalization: the geometry travels as
// twelve ints (convArgs' order, the kernels' N … OW), and the per-channel
// reductions run one work-group of 256 per channel.

// valid records err, from one of package backend's checks of a geometry
// or a batch shape, as op's sticky error, and reports whether there was none.
func (b *Backend) valid(op string, err error) bool {
	if err != nil {
		b.fail("%s: %w", op, err)
		return false
	}
	return true
}

// Im2Col writes the column matrix of x, one work-item per value.
func (b *Backend) Im2Col(g backend.ConvGeom, x, cols backend.Buffer) {
	if !b.ok() || !b.valid("Im2Col", g.Check()) {
		return
	}
	xb, cb := b.buf(x, g.InLen(), "Im2Col", "x"), b.buf(cols, g.ColsLen(), "Im2Col", "cols")
	b.launch1D("im2col", g.ColsLen(), g.N, g.C, g.H, g.W, g.KH, g.KW, g.StrideH, g.StrideW, g.PadH, g.PadW, g.OutH(), g.OutW(), xb, cb)
}

// Col2Im computes x = beta·x + Im2Colᵀ(cols), one work-item per value of x.
func (b *Backend) Col2Im(g backend.ConvGeom, cols backend.Buffer, beta float32, x backend.Buffer) {
	if !b.ok() || !b.valid("Col2Im", g.Check()) {
		return
	}
	cb, xb := b.buf(cols, g.ColsLen(), "Col2Im", "cols"), b.buf(x, g.InLen(), "Col2Im", "x")
	b.launch1D("col2im", g.InLen(), g.N, g.C, g.H, g.W, g.KH, g.KW, g.StrideH, g.StrideW, g.PadH, g.PadW, g.OutH(), g.OutW(), cb, beta, xb)
}

// TransposeBatch transposes n rows×cols matrices.
func (b *Backend) TransposeBatch(n, rows, cols int, x, y backend.Buffer) {
	if !b.ok() || !b.valid("TransposeBatch", backend.CheckBatch(n, rows, cols)) {
		return
	}
	xb, yb := b.buf(x, n*rows*cols, "TransposeBatch", "x"), b.buf(y, n*rows*cols, "TransposeBatch", "y")
	b.launch1D("transpose_batch", n*rows*cols, n, rows, cols, xb, yb)
}

// CopyColumns copies width columns of each row from src to dst.
func (b *Backend) CopyColumns(rows, width int, src backend.Buffer, srcCols, srcCol int, dst backend.Buffer, dstCols, dstCol int) {
	if !b.ok() || !b.valid("CopyColumns", backend.CheckColumns(rows, width, srcCols, srcCol, dstCols, dstCol)) {
		return
	}
	sb, db := b.buf(src, rows*srcCols, "CopyColumns", "src"), b.buf(dst, rows*dstCols, "CopyColumns", "dst")
	b.launch1D("copy_columns", rows*width, rows, width, sb, srcCols, srcCol, db, dstCols, dstCol)
}

// AddChannels adds v[ch] to channel ch of x.
func (b *Backend) AddChannels(n, c, hw int, v, x backend.Buffer) {
	if !b.ok() || !b.valid("AddChannels", backend.CheckBatch(n, c, hw)) {
		return
	}
	vb, xb := b.buf(v, c, "AddChannels", "v"), b.buf(x, n*c*hw, "AddChannels", "x")
	b.launch1D("add_channels", n*c*hw, n, c, hw, vb, xb)
}

// perChannel runs a kernel with one work-group of 256 per channel.
func (b *Backend) perChannel(name string, c int, args ...any) {
	if c > 0 {
		b.launch(name, [2]int{c, 1}, [2]int{256, 1}, args...)
	}
}

// SumChannels computes dst = beta·dst + the per-channel sums of x.
func (b *Backend) SumChannels(n, c, hw int, x backend.Buffer, beta float32, dst backend.Buffer) {
	if !b.ok() || !b.valid("SumChannels", backend.CheckBatch(n, c, hw)) {
		return
	}
	xb, db := b.buf(x, n*c*hw, "SumChannels", "x"), b.buf(dst, c, "SumChannels", "dst")
	b.perChannel("sum_channels", c, n, c, hw, xb, beta, db)
}

// MaxPoolForward computes each window's maximum and its index.
func (b *Backend) MaxPoolForward(g backend.ConvGeom, x, y, argmax backend.Buffer) {
	if !b.ok() || !b.valid("MaxPoolForward", g.CheckPool()) {
		return
	}
	xb := b.buf(x, g.InLen(), "MaxPoolForward", "x")
	yb, ab := b.buf(y, g.OutLen(), "MaxPoolForward", "y"), b.buf(argmax, g.OutLen(), "MaxPoolForward", "argmax")
	b.launch1D("max_pool_forward", g.OutLen(), g.N, g.C, g.H, g.W, g.KH, g.KW, g.StrideH, g.StrideW, g.PadH, g.PadW, g.OutH(), g.OutW(), xb, yb, ab)
}

// MaxPoolBackward gathers, for each input value, dy of the windows whose
// argmax it is.
func (b *Backend) MaxPoolBackward(g backend.ConvGeom, dy, argmax, dx backend.Buffer) {
	if !b.ok() || !b.valid("MaxPoolBackward", g.CheckPool()) {
		return
	}
	dyb, ab := b.buf(dy, g.OutLen(), "MaxPoolBackward", "dy"), b.buf(argmax, g.OutLen(), "MaxPoolBackward", "argmax")
	dxb := b.buf(dx, g.InLen(), "MaxPoolBackward", "dx")
	b.launch1D("max_pool_backward", g.InLen(), g.N, g.C, g.H, g.W, g.KH, g.KW, g.StrideH, g.StrideW, g.PadH, g.PadW, g.OutH(), g.OutW(), dyb, ab, dxb)
}

// AvgPoolForward computes each window's mean, padding counted.
func (b *Backend) AvgPoolForward(g backend.ConvGeom, x, y backend.Buffer) {
	if !b.ok() || !b.valid("AvgPoolForward", g.CheckPool()) {
		return
	}
	xb, yb := b.buf(x, g.InLen(), "AvgPoolForward", "x"), b.buf(y, g.OutLen(), "AvgPoolForward", "y")
	b.launch1D("avg_pool_forward", g.OutLen(), g.N, g.C, g.H, g.W, g.KH, g.KW, g.StrideH, g.StrideW, g.PadH, g.PadW, g.OutH(), g.OutW(), xb, yb)
}

// AvgPoolBackward gathers dy/(KH·KW) over the windows of each input value.
func (b *Backend) AvgPoolBackward(g backend.ConvGeom, dy, dx backend.Buffer) {
	if !b.ok() || !b.valid("AvgPoolBackward", g.CheckPool()) {
		return
	}
	dyb, dxb := b.buf(dy, g.OutLen(), "AvgPoolBackward", "dy"), b.buf(dx, g.InLen(), "AvgPoolBackward", "dx")
	b.launch1D("avg_pool_backward", g.InLen(), g.N, g.C, g.H, g.W, g.KH, g.KW, g.StrideH, g.StrideW, g.PadH, g.PadW, g.OutH(), g.OutW(), dyb, dxb)
}

// BatchNormStats computes per-channel means and biased variances.
func (b *Backend) BatchNormStats(n, c, hw int, x, mean, variance backend.Buffer) {
	if !b.ok() || !b.valid("BatchNormStats", backend.CheckBatch(n, c, hw)) {
		return
	}
	if n*hw == 0 && c > 0 {
		b.fail("BatchNormStats: no values per channel (n=%d, hw=%d)", n, hw)
		return
	}
	xb := b.buf(x, n*c*hw, "BatchNormStats", "x")
	mb, vb := b.buf(mean, c, "BatchNormStats", "mean"), b.buf(variance, c, "BatchNormStats", "variance")
	b.perChannel("batch_norm_stats", c, n, c, hw, xb, mb, vb)
}

// BatchNormForward normalizes, scales and shifts x.
func (b *Backend) BatchNormForward(n, c, hw int, eps float32, x, mean, variance, gamma, beta, y backend.Buffer) {
	if !b.ok() || !b.valid("BatchNormForward", backend.CheckBatch(n, c, hw)) {
		return
	}
	const op = "BatchNormForward"
	xb, yb := b.buf(x, n*c*hw, op, "x"), b.buf(y, n*c*hw, op, "y")
	mb, vb := b.buf(mean, c, op, "mean"), b.buf(variance, c, op, "variance")
	gb, bb := b.buf(gamma, c, op, "gamma"), b.buf(beta, c, op, "beta")
	b.launch1D("batch_norm_forward", n*c*hw, n, c, hw, eps, xb, mb, vb, gb, bb, yb)
}

// BatchNormBackward accumulates dgamma and dbeta and writes dx.
func (b *Backend) BatchNormBackward(n, c, hw int, eps float32, batchStats bool, x, dy, mean, variance, gamma, dx, dgamma, dbeta backend.Buffer) {
	if !b.ok() || !b.valid("BatchNormBackward", backend.CheckBatch(n, c, hw)) {
		return
	}
	const op = "BatchNormBackward"
	total := n * c * hw
	xb, dyb, dxb := b.buf(x, total, op, "x"), b.buf(dy, total, op, "dy"), b.buf(dx, total, op, "dx")
	mb, vb, gb := b.buf(mean, c, op, "mean"), b.buf(variance, c, op, "variance"), b.buf(gamma, c, op, "gamma")
	dgb, dbb := b.buf(dgamma, c, op, "dgamma"), b.buf(dbeta, c, op, "dbeta")
	if b.err != nil || n*hw == 0 {
		return
	}
	b.perChannel("batch_norm_backward", c, n, c, hw, eps, batchStats, xb, dyb, mb, vb, gb, dxb, dgb, dbb)
}
