package cpu

import (
	"math"

	"github.com/diynn/diynn/backend"
)

// Convolution, pooling and batch normalization. Each kernel splits its work
// over whole rows of its output (Im2Col), image planes (n, c) or channels,
// so that every output value is written by one goroutine and sums run in an
// order fixed by the shapes alone. The adjoints (Col2Im, the pooling
// backwards) scatter within one plane, which only its own goroutine owns.

// checkGeom records why g cannot run op, if it cannot.
func (c *Backend) checkGeom(op string, g backend.ConvGeom, pool bool) bool {
	err := g.Check()
	if pool && err == nil {
		err = g.CheckPool()
	}
	if err != nil {
		c.fail("%s: %w", op, err)
		return false
	}
	return true
}

// validRange returns the window offsets [k0, k1) of a window starting at
// input index p0 (possibly negative) that fall inside an input of size n.
func validRange(p0, k, n int) (k0, k1 int) {
	k0, k1 = max(0, -p0), min(k, n-p0)
	if k1 < k0 {
		k1 = k0
	}
	return k0, k1
}

// Im2Col writes the (N·OH·OW) × (C·KH·KW) column matrix of x.
func (c *Backend) Im2Col(g backend.ConvGeom, x, cols backend.Buffer) {
	if !c.ok() || !c.checkGeom("Im2Col", g, false) {
		return
	}
	xd, cd := c.data(x, g.InLen(), "Im2Col", "x"), c.data(cols, g.ColsLen(), "Im2Col", "cols")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: xd, y: cd, geom: g, oh: g.OutH(), ow: g.OutW()}
	c.run(g.N*c.args.oh*c.args.ow, g.C*g.KH*g.KW, im2colRange)
}

// im2colRange fills rows [lo, hi) of cols. Within a row, the KW values of
// one (c, kh) come from consecutive input columns whatever the stride, so
// each is one copy between zeroed margins.
func im2colRange(a *kernelArgs, lo, hi int) {
	g := a.geom
	k, plane := g.C*g.KH*g.KW, g.H*g.W
	for r := lo; r < hi; r++ {
		n, p := r/(a.oh*a.ow), r%(a.oh*a.ow)
		h0, w0 := (p/a.ow)*g.StrideH-g.PadH, (p%a.ow)*g.StrideW-g.PadW
		kw0, kw1 := validRange(w0, g.KW, g.W)
		row := a.y[r*k : (r+1)*k]
		i := 0
		for ch := 0; ch < g.C; ch++ {
			xp := a.x[(n*g.C+ch)*plane : (n*g.C+ch+1)*plane]
			for kh := 0; kh < g.KH; kh++ {
				dst := row[i : i+g.KW]
				i += g.KW
				h := h0 + kh
				if h < 0 || h >= g.H || kw0 == kw1 {
					clear(dst)
					continue
				}
				// Loops, not clear and copy: windows are a few values
				// wide, shorter than a call's overhead.
				src := xp[h*g.W+w0+kw0 : h*g.W+w0+kw1]
				for j := 0; j < kw0; j++ {
					dst[j] = 0
				}
				mid := dst[kw0:kw1]
				for j, v := range src {
					mid[j] = v
				}
				for j := kw1; j < len(dst); j++ {
					dst[j] = 0
				}
			}
		}
	}
}

// Col2Im computes x = beta·x + Im2Colᵀ(cols).
func (c *Backend) Col2Im(g backend.ConvGeom, cols backend.Buffer, beta float32, x backend.Buffer) {
	if !c.ok() || !c.checkGeom("Col2Im", g, false) {
		return
	}
	cd, xd := c.data(cols, g.ColsLen(), "Col2Im", "cols"), c.data(x, g.InLen(), "Col2Im", "x")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: xd, y: cd, beta: beta, geom: g, oh: g.OutH(), ow: g.OutW()}
	c.run(g.N*g.C, c.args.oh*c.args.ow*g.KH*g.KW, col2imRange)
}

func col2imRange(a *kernelArgs, lo, hi int) {
	g := a.geom
	k, plane, win := g.C*g.KH*g.KW, g.H*g.W, g.KH*g.KW
	for pl := lo; pl < hi; pl++ {
		n, ch := pl/g.C, pl%g.C
		xp := a.x[pl*plane : (pl+1)*plane]
		switch a.beta {
		case 0:
			clear(xp)
		case 1:
		default:
			for i := range xp {
				xp[i] *= a.beta
			}
		}
		for oy := 0; oy < a.oh; oy++ {
			h0 := oy*g.StrideH - g.PadH
			for ox := 0; ox < a.ow; ox++ {
				w0 := ox*g.StrideW - g.PadW
				kw0, kw1 := validRange(w0, g.KW, g.W)
				base := ((n*a.oh+oy)*a.ow+ox)*k + ch*win
				for kh := 0; kh < g.KH; kh++ {
					h := h0 + kh
					if h < 0 || h >= g.H || kw0 == kw1 {
						continue
					}
					src := a.y[base+kh*g.KW+kw0 : base+kh*g.KW+kw1]
					dst := xp[h*g.W+w0+kw0 : h*g.W+w0+kw1]
					dst = dst[:len(src)]
					for i, v := range src {
						dst[i] += v
					}
				}
			}
		}
	}
}

// nchw checks the shape of an n×c×hw batch.
func (c *Backend) nchw(op string, n, ch, hw int) bool {
	if n < 0 || ch < 0 || hw < 0 {
		c.fail("%s: negative shape %d×%d×%d", op, n, ch, hw)
		return false
	}
	return true
}

// TransposeBatch transposes n rows×cols matrices.
func (c *Backend) TransposeBatch(n, rows, cols int, x, y backend.Buffer) {
	if !c.ok() || !c.nchw("TransposeBatch", n, rows, cols) {
		return
	}
	xd, yd := c.data(x, n*rows*cols, "TransposeBatch", "x"), c.data(y, n*rows*cols, "TransposeBatch", "y")
	if c.err != nil || rows == 0 || cols == 0 {
		return
	}
	c.args = kernelArgs{x: xd, y: yd, rows: rows, cols: cols}
	c.run(n*((cols+transposeTile-1)/transposeTile), rows*transposeTile, transposeRange)
}

// transposeTile is the number of output rows built together: the reads of
// one input row then touch transposeTile consecutive values.
const transposeTile = 8

// transposeRange writes tiles [lo, hi), each transposeTile rows of one
// output matrix.
func transposeRange(a *kernelArgs, lo, hi int) {
	rows, cols := a.rows, a.cols
	tiles := (cols + transposeTile - 1) / transposeTile
	for q := lo; q < hi; q++ {
		b, j0 := q/tiles, (q%tiles)*transposeTile
		j1 := min(j0+transposeTile, cols)
		src := a.x[b*rows*cols : (b+1)*rows*cols]
		dst := a.y[b*rows*cols : (b+1)*rows*cols]
		for i := 0; i < rows; i++ {
			in := src[i*cols+j0 : i*cols+j1]
			for j, v := range in {
				dst[(j0+j)*rows+i] = v
			}
		}
	}
}

// AddChannels adds v[ch] to channel ch of x.
func (c *Backend) AddChannels(n, ch, hw int, v, x backend.Buffer) {
	if !c.ok() || !c.nchw("AddChannels", n, ch, hw) {
		return
	}
	vd, xd := c.data(v, ch, "AddChannels", "v"), c.data(x, n*ch*hw, "AddChannels", "x")
	if c.err != nil || ch == 0 || hw == 0 {
		return
	}
	c.args = kernelArgs{x: xd, v: vd, rows: ch, cols: hw}
	c.run(n*ch, hw, addChannelsRange)
}

func addChannelsRange(a *kernelArgs, lo, hi int) {
	hw := a.cols
	for pl := lo; pl < hi; pl++ {
		b := a.v[pl%a.rows]
		for i, xv := range a.x[pl*hw : (pl+1)*hw] {
			a.x[pl*hw+i] = xv + b
		}
	}
}

// SumChannels computes dst = beta·dst + the per-channel sums of x, in
// float64, plane by plane in order.
func (c *Backend) SumChannels(n, ch, hw int, x backend.Buffer, beta float32, dst backend.Buffer) {
	if !c.ok() || !c.nchw("SumChannels", n, ch, hw) {
		return
	}
	xd, dd := c.data(x, n*ch*hw, "SumChannels", "x"), c.data(dst, ch, "SumChannels", "dst")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: xd, y: dd, beta: beta, off: n, rows: ch, cols: hw}
	c.run(ch, n*hw, sumChannelsRange)
}

// channelSum returns the float64 sum of channel ch of the n×c×hw batch x.
func channelSum(x []float32, n, c, hw, ch int) float64 {
	var s float64
	for b := 0; b < n; b++ {
		for _, v := range x[(b*c+ch)*hw : (b*c+ch+1)*hw] {
			s += float64(v)
		}
	}
	return s
}

func sumChannelsRange(a *kernelArgs, lo, hi int) {
	for ch := lo; ch < hi; ch++ {
		s := channelSum(a.x, a.off, a.rows, a.cols, ch)
		if a.beta == 0 {
			a.y[ch] = float32(s)
		} else {
			a.y[ch] = float32(float64(a.beta)*float64(a.y[ch]) + s)
		}
	}
}

// MaxPoolForward computes the maximum of each window and its index.
func (c *Backend) MaxPoolForward(g backend.ConvGeom, x, y, argmax backend.Buffer) {
	if !c.ok() || !c.checkGeom("MaxPoolForward", g, true) {
		return
	}
	xd := c.data(x, g.InLen(), "MaxPoolForward", "x")
	yd, ad := c.data(y, g.OutLen(), "MaxPoolForward", "y"), c.data(argmax, g.OutLen(), "MaxPoolForward", "argmax")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: xd, y: yd, z: ad, geom: g, oh: g.OutH(), ow: g.OutW()}
	c.run(g.N*g.C, c.args.oh*c.args.ow*g.KH*g.KW, maxPoolForwardRange)
}

func maxPoolForwardRange(a *kernelArgs, lo, hi int) {
	g := a.geom
	plane, out := g.H*g.W, a.oh*a.ow
	for pl := lo; pl < hi; pl++ {
		xp := a.x[pl*plane : (pl+1)*plane]
		yp, ap := a.y[pl*out:(pl+1)*out], a.z[pl*out:(pl+1)*out]
		for oy := 0; oy < a.oh; oy++ {
			h0 := oy*g.StrideH - g.PadH
			kh0, kh1 := validRange(h0, g.KH, g.H)
			for ox := 0; ox < a.ow; ox++ {
				w0 := ox*g.StrideW - g.PadW
				kw0, kw1 := validRange(w0, g.KW, g.W)
				best, bi := float32(math.Inf(-1)), -1
				for kh := kh0; kh < kh1; kh++ {
					o := (h0+kh)*g.W + w0
					for kw := kw0; kw < kw1; kw++ {
						if v := xp[o+kw]; bi < 0 || v > best {
							best, bi = v, o+kw
						}
					}
				}
				yp[oy*a.ow+ox], ap[oy*a.ow+ox] = best, float32(bi)
			}
		}
	}
}

// MaxPoolBackward routes dy to each window's argmax.
func (c *Backend) MaxPoolBackward(g backend.ConvGeom, dy, argmax, dx backend.Buffer) {
	if !c.ok() || !c.checkGeom("MaxPoolBackward", g, true) {
		return
	}
	dyd, ad := c.data(dy, g.OutLen(), "MaxPoolBackward", "dy"), c.data(argmax, g.OutLen(), "MaxPoolBackward", "argmax")
	dxd := c.data(dx, g.InLen(), "MaxPoolBackward", "dx")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: dxd, y: dyd, z: ad, geom: g, oh: g.OutH(), ow: g.OutW()}
	c.run(g.N*g.C, g.H*g.W+c.args.oh*c.args.ow, maxPoolBackwardRange)
}

func maxPoolBackwardRange(a *kernelArgs, lo, hi int) {
	g := a.geom
	plane, out := g.H*g.W, a.oh*a.ow
	for pl := lo; pl < hi; pl++ {
		dxp := a.x[pl*plane : (pl+1)*plane]
		clear(dxp)
		ap := a.z[pl*out : (pl+1)*out]
		for j, d := range a.y[pl*out : (pl+1)*out] {
			// An index MaxPoolForward did not write is skipped, not a panic.
			if i := int(ap[j]); i >= 0 && i < plane {
				dxp[i] += d
			}
		}
	}
}

// AvgPoolForward computes the mean of each window, padding counted.
func (c *Backend) AvgPoolForward(g backend.ConvGeom, x, y backend.Buffer) {
	if !c.ok() || !c.checkGeom("AvgPoolForward", g, true) {
		return
	}
	xd, yd := c.data(x, g.InLen(), "AvgPoolForward", "x"), c.data(y, g.OutLen(), "AvgPoolForward", "y")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: xd, y: yd, geom: g, oh: g.OutH(), ow: g.OutW()}
	c.run(g.N*g.C, c.args.oh*c.args.ow*g.KH*g.KW, avgPoolForwardRange)
}

func avgPoolForwardRange(a *kernelArgs, lo, hi int) {
	g := a.geom
	plane, out := g.H*g.W, a.oh*a.ow
	inv := 1 / float32(g.KH*g.KW)
	for pl := lo; pl < hi; pl++ {
		xp, yp := a.x[pl*plane:(pl+1)*plane], a.y[pl*out:(pl+1)*out]
		for oy := 0; oy < a.oh; oy++ {
			h0 := oy*g.StrideH - g.PadH
			kh0, kh1 := validRange(h0, g.KH, g.H)
			for ox := 0; ox < a.ow; ox++ {
				w0 := ox*g.StrideW - g.PadW
				kw0, kw1 := validRange(w0, g.KW, g.W)
				var s float32
				for kh := kh0; kh < kh1; kh++ {
					o := (h0+kh)*g.W + w0
					for _, v := range xp[o+kw0 : o+kw1] {
						s += v
					}
				}
				yp[oy*a.ow+ox] = s * inv
			}
		}
	}
}

// AvgPoolBackward spreads dy/(KH·KW) over each window.
func (c *Backend) AvgPoolBackward(g backend.ConvGeom, dy, dx backend.Buffer) {
	if !c.ok() || !c.checkGeom("AvgPoolBackward", g, true) {
		return
	}
	dyd, dxd := c.data(dy, g.OutLen(), "AvgPoolBackward", "dy"), c.data(dx, g.InLen(), "AvgPoolBackward", "dx")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: dxd, y: dyd, geom: g, oh: g.OutH(), ow: g.OutW()}
	c.run(g.N*g.C, c.args.oh*c.args.ow*g.KH*g.KW, avgPoolBackwardRange)
}

func avgPoolBackwardRange(a *kernelArgs, lo, hi int) {
	g := a.geom
	plane, out := g.H*g.W, a.oh*a.ow
	inv := 1 / float32(g.KH*g.KW)
	for pl := lo; pl < hi; pl++ {
		dxp, dyp := a.x[pl*plane:(pl+1)*plane], a.y[pl*out:(pl+1)*out]
		clear(dxp)
		for oy := 0; oy < a.oh; oy++ {
			h0 := oy*g.StrideH - g.PadH
			kh0, kh1 := validRange(h0, g.KH, g.H)
			for ox := 0; ox < a.ow; ox++ {
				w0 := ox*g.StrideW - g.PadW
				kw0, kw1 := validRange(w0, g.KW, g.W)
				d := dyp[oy*a.ow+ox] * inv
				for kh := kh0; kh < kh1; kh++ {
					o := (h0+kh)*g.W + w0
					row := dxp[o+kw0 : o+kw1]
					for i := range row {
						row[i] += d
					}
				}
			}
		}
	}
}

// BatchNormStats computes per-channel means and biased variances, in
// float64, two passes, one goroutine per channel.
func (c *Backend) BatchNormStats(n, ch, hw int, x, mean, variance backend.Buffer) {
	if !c.ok() || !c.nchw("BatchNormStats", n, ch, hw) {
		return
	}
	if n*hw == 0 && ch > 0 {
		c.fail("BatchNormStats: no values per channel (n=%d, hw=%d)", n, hw)
		return
	}
	xd := c.data(x, n*ch*hw, "BatchNormStats", "x")
	md, vd := c.data(mean, ch, "BatchNormStats", "mean"), c.data(variance, ch, "BatchNormStats", "variance")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: xd, mean: md, vari: vd, off: n, rows: ch, cols: hw}
	c.run(ch, 2*n*hw, batchNormStatsRange)
}

func batchNormStatsRange(a *kernelArgs, lo, hi int) {
	n, c, hw := a.off, a.rows, a.cols
	count := float64(n * hw)
	for ch := lo; ch < hi; ch++ {
		m := channelSum(a.x, n, c, hw, ch) / count
		var ss float64
		for b := 0; b < n; b++ {
			for _, v := range a.x[(b*c+ch)*hw : (b*c+ch+1)*hw] {
				d := float64(v) - m
				ss += d * d
			}
		}
		a.mean[ch], a.vari[ch] = float32(m), float32(ss/count)
	}
}

// invStd returns 1/√(variance + eps) in float64.
func invStd(variance, eps float32) float64 {
	return 1 / math.Sqrt(float64(variance)+float64(eps))
}

// BatchNormForward normalizes x with the given statistics, scales and
// shifts.
func (c *Backend) BatchNormForward(n, ch, hw int, eps float32, x, mean, variance, gamma, beta, y backend.Buffer) {
	if !c.ok() || !c.nchw("BatchNormForward", n, ch, hw) {
		return
	}
	const op = "BatchNormForward"
	xd, yd := c.data(x, n*ch*hw, op, "x"), c.data(y, n*ch*hw, op, "y")
	md, vd := c.data(mean, ch, op, "mean"), c.data(variance, ch, op, "variance")
	gd, bd := c.data(gamma, ch, op, "gamma"), c.data(beta, ch, op, "beta")
	if c.err != nil || ch == 0 || hw == 0 {
		return
	}
	c.args = kernelArgs{x: xd, y: yd, mean: md, vari: vd, gamma: gd, v: bd, eps: eps, rows: ch, cols: hw}
	c.run(n*ch, 2*hw, batchNormForwardRange)
}

func batchNormForwardRange(a *kernelArgs, lo, hi int) {
	hw := a.cols
	for pl := lo; pl < hi; pl++ {
		ch := pl % a.rows
		scale := float32(invStd(a.vari[ch], a.eps)) * a.gamma[ch]
		m, shift := a.mean[ch], a.v[ch]
		x, y := a.x[pl*hw:(pl+1)*hw], a.y[pl*hw:(pl+1)*hw]
		y = y[:len(x)]
		for i, v := range x {
			y[i] = (v-m)*scale + shift
		}
	}
}

// BatchNormBackward accumulates dgamma and dbeta and writes dx, one
// goroutine per channel, sums in float64.
func (c *Backend) BatchNormBackward(n, ch, hw int, eps float32, batchStats bool, x, dy, mean, variance, gamma, dx, dgamma, dbeta backend.Buffer) {
	if !c.ok() || !c.nchw("BatchNormBackward", n, ch, hw) {
		return
	}
	const op = "BatchNormBackward"
	total := n * ch * hw
	xd, dyd, dxd := c.data(x, total, op, "x"), c.data(dy, total, op, "dy"), c.data(dx, total, op, "dx")
	md, vd, gd := c.data(mean, ch, op, "mean"), c.data(variance, ch, op, "variance"), c.data(gamma, ch, op, "gamma")
	dgd, dbd := c.data(dgamma, ch, op, "dgamma"), c.data(dbeta, ch, op, "dbeta")
	if c.err != nil || n*hw == 0 {
		return
	}
	c.args = kernelArgs{x: xd, y: dyd, z: dxd, mean: md, vari: vd, gamma: gd, dgamma: dgd, dbeta: dbd,
		eps: eps, batchStats: batchStats, off: n, rows: ch, cols: hw}
	c.run(ch, 4*n*hw, batchNormBackwardRange)
}

func batchNormBackwardRange(a *kernelArgs, lo, hi int) {
	n, c, hw := a.off, a.rows, a.cols
	count := float64(n * hw)
	for ch := lo; ch < hi; ch++ {
		inv := invStd(a.vari[ch], a.eps)
		m := float64(a.mean[ch])
		var sdy, sdyx float64
		for b := 0; b < n; b++ {
			o := (b*c + ch) * hw
			x, dy := a.x[o:o+hw], a.y[o:o+hw]
			for i, g := range dy {
				sdy += float64(g)
				sdyx += float64(g) * (float64(x[i]) - m) * inv
			}
		}
		a.dgamma[ch] += float32(sdyx)
		a.dbeta[ch] += float32(sdy)
		k := float64(a.gamma[ch]) * inv
		mdy, mdyx := sdy/count, sdyx/count
		if !a.batchStats {
			mdy, mdyx = 0, 0
		}
		for b := 0; b < n; b++ {
			o := (b*c + ch) * hw
			x, dy, dx := a.x[o:o+hw], a.y[o:o+hw], a.z[o:o+hw]
			for i, g := range dy {
				xh := (float64(x[i]) - m) * inv
				dx[i] = float32(k * (float64(g) - mdy - xh*mdyx))
			}
		}
	}
}
