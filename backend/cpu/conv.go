package cpu

import (
	"math"

	"github.com/diynn/diynn/backend"
)

// Convolution, pooling and batch normalization. Each kernel splits its work
// over whole rows of its output (Im2Col), blocks of the planes of one image
// (Col2Im), image planes (n, c) or channels, so that every output value is
// written by one goroutine and sums run in an order fixed by the shapes
// alone. The adjoints (Col2Im, the pooling backwards) scatter within planes
// that only their own goroutine owns.
//
// These kernels move more bytes than they compute on, so they are written
// for the memory system: contiguous runs read and written whole, working
// sets that stay in L1 (Col2Im's planes, TransposeBatch's 8×8 blocks),
// conditional moves where a branch would depend on the data (max pooling,
// the ReLU's gradient), and several partial sums where one would wait on
// its previous addition at every value.

// valid records err, from one of package backend's checks of a geometry
// or a batch shape, as op's sticky error, and reports whether there was none.
func (c *Backend) valid(op string, err error) bool {
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
	if !c.ok() || !c.valid("Im2Col", g.Check()) {
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
// each is one copy between zeroed margins. Most windows lie wholly inside
// the image (all but the border rows and columns at padding 1); they take
// a path without bounds arithmetic, unrolled for the 3×3 windows of most
// networks.
func im2colRange(a *kernelArgs, lo, hi int) {
	g := a.geom
	k, plane, ohw := g.C*g.KH*g.KW, g.H*g.W, a.oh*a.ow
	for r := lo; r < hi; r++ {
		n, p := r/ohw, r%ohw
		h0, w0 := (p/a.ow)*g.StrideH-g.PadH, (p%a.ow)*g.StrideW-g.PadW
		kw0, kw1 := validRange(w0, g.KW, g.W)
		kh0, kh1 := validRange(h0, g.KH, g.H)
		row := a.y[r*k : (r+1)*k]
		xn := a.x[n*g.C*plane : (n+1)*g.C*plane]
		if kw0 == 0 && kw1 == g.KW && kh0 == 0 && kh1 == g.KH {
			im2colInterior(xn, row, g, h0*g.W+w0)
			continue
		}
		i := 0
		for ch := 0; ch < g.C; ch++ {
			xp := xn[ch*plane : (ch+1)*plane]
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

// im2colInterior fills one row of cols from a window wholly inside the
// image, whose top-left value is at offset o of every plane of xn.
func im2colInterior(xn, row []float32, g backend.ConvGeom, o int) {
	plane := g.H * g.W
	if g.KW == 3 && g.KH == 3 {
		for ch := 0; ch < g.C; ch++ {
			src := xn[ch*plane+o : ch*plane+o+2*g.W+3]
			dst := row[ch*9 : ch*9+9 : ch*9+9]
			r1, r2 := src[g.W:g.W+3:g.W+3], src[2*g.W:2*g.W+3:2*g.W+3]
			dst[0], dst[1], dst[2] = src[0], src[1], src[2]
			dst[3], dst[4], dst[5] = r1[0], r1[1], r1[2]
			dst[6], dst[7], dst[8] = r2[0], r2[1], r2[2]
		}
		return
	}
	i := 0
	for ch := 0; ch < g.C; ch++ {
		for kh := 0; kh < g.KH; kh++ {
			s := ch*plane + o + kh*g.W
			src, dst := xn[s:s+g.KW], row[i:i+g.KW]
			for j, v := range src {
				dst[j] = v
			}
			i += g.KW
		}
	}
}

// Col2Im computes x = beta·x + Im2Colᵀ(cols).
func (c *Backend) Col2Im(g backend.ConvGeom, cols backend.Buffer, beta float32, x backend.Buffer) {
	if !c.ok() || !c.valid("Col2Im", g.Check()) {
		return
	}
	cd, xd := c.data(cols, g.ColsLen(), "Col2Im", "cols"), c.data(x, g.InLen(), "Col2Im", "x")
	if c.err != nil {
		return
	}
	cb := col2imBlock(g)
	units := g.N * ((g.C + cb - 1) / cb)
	c.args = kernelArgs{x: xd, y: cd, beta: beta, geom: g, oh: g.OutH(), ow: g.OutW(), rows: cb}
	c.run(units, cb*c.args.oh*c.args.ow*g.KH*g.KW, col2imRange)
}

// col2imSlab is the number of input values Col2Im accumulates into at a
// time: a third of a typical 48–64 KiB L1 data cache, so that the scatter
// of every window onto them stays in L1 while the rows of cols stream by.
const col2imSlab = 4096

// col2imBlock is the number of channels of one image that Col2Im gathers
// together: as many planes as fit in col2imSlab, at least one.
func col2imBlock(g backend.ConvGeom) int {
	return max(1, min(g.C, col2imSlab/max(1, g.H*g.W)))
}

// col2imRange computes units [lo, hi), each the planes of channels
// [cb·j, cb·(j+1)) of one image. It reads that image's rows of cols in
// order, each row's values for those channels contiguous, and adds every
// window onto the planes, which stay in cache. Each input value thus
// receives its terms in window order, whatever the split: the results do
// not depend on the number of cores.
func col2imRange(a *kernelArgs, lo, hi int) {
	g := a.geom
	k, plane, win, cb := g.C*g.KH*g.KW, g.H*g.W, g.KH*g.KW, a.rows
	blocks := (g.C + cb - 1) / cb
	ohw := a.oh * a.ow
	for u := lo; u < hi; u++ {
		n, c0 := u/blocks, (u%blocks)*cb
		c1 := min(c0+cb, g.C)
		slab := a.x[(n*g.C+c0)*plane : (n*g.C+c1)*plane]
		switch a.beta {
		case 0:
			clear(slab)
		case 1:
		default:
			for i := range slab {
				slab[i] *= a.beta
			}
		}
		for p := 0; p < ohw; p++ {
			oy, ox := p/a.ow, p%a.ow
			h0, w0 := oy*g.StrideH-g.PadH, ox*g.StrideW-g.PadW
			kw0, kw1 := validRange(w0, g.KW, g.W)
			kh0, kh1 := validRange(h0, g.KH, g.H)
			if kw0 == kw1 || kh0 == kh1 {
				continue
			}
			r := (n*ohw + p) * k
			row := a.y[r+c0*win : r+c1*win]
			if kw0 == 0 && kw1 == 3 && kh0 == 0 && kh1 == 3 && g.KW == 3 && g.KH == 3 {
				col2imInterior3(row, slab, plane, g.W, h0*g.W+w0)
				continue
			}
			for ch := 0; ch < c1-c0; ch++ {
				xp := slab[ch*plane : (ch+1)*plane]
				for kh := kh0; kh < kh1; kh++ {
					src := row[ch*win+kh*g.KW+kw0 : ch*win+kh*g.KW+kw1]
					o := (h0+kh)*g.W + w0
					dst := xp[o+kw0 : o+kw1]
					dst = dst[:len(src)]
					for i, v := range src {
						dst[i] += v
					}
				}
			}
		}
	}
}

// col2imInterior3 adds one row of 3×3 windows, wholly inside the image
// with their top-left value at offset o, onto the planes of slab.
func col2imInterior3(row, slab []float32, plane, w, o int) {
	for ch := 0; ch < len(row)/9; ch++ {
		src := row[ch*9 : ch*9+9 : ch*9+9]
		d := slab[ch*plane+o : ch*plane+o+2*w+3]
		d1, d2 := d[w:w+3:w+3], d[2*w:2*w+3:2*w+3]
		d[0] += src[0]
		d[1] += src[1]
		d[2] += src[2]
		d1[0] += src[3]
		d1[1] += src[4]
		d1[2] += src[5]
		d2[0] += src[6]
		d2[1] += src[7]
		d2[2] += src[8]
	}
}

// TransposeBatch transposes n rows×cols matrices.
func (c *Backend) TransposeBatch(n, rows, cols int, x, y backend.Buffer) {
	if !c.ok() || !c.valid("TransposeBatch", backend.CheckBatch(n, rows, cols)) {
		return
	}
	xd, yd := c.data(x, n*rows*cols, "TransposeBatch", "x"), c.data(y, n*rows*cols, "TransposeBatch", "y")
	if c.err != nil || rows == 0 || cols == 0 {
		return
	}
	c.args = kernelArgs{x: xd, y: yd, rows: rows, cols: cols}
	c.run(n*((rows+transposeTile-1)/transposeTile), cols*transposeTile, transposeRange)
}

// CopyColumns copies width columns of each row from src to dst.
func (c *Backend) CopyColumns(rows, width int, src backend.Buffer, srcCols, srcCol int, dst backend.Buffer, dstCols, dstCol int) {
	if !c.ok() || !c.valid("CopyColumns", backend.CheckColumns(rows, width, srcCols, srcCol, dstCols, dstCol)) {
		return
	}
	sd, dd := c.data(src, rows*srcCols, "CopyColumns", "src"), c.data(dst, rows*dstCols, "CopyColumns", "dst")
	if c.err != nil || width == 0 {
		return
	}
	// A memory-bound copy of a few rows of a batch: one core saturates it.
	for r := range rows {
		copy(dd[r*dstCols+dstCol:r*dstCols+dstCol+width], sd[r*srcCols+srcCol:r*srcCols+srcCol+width])
	}
}

// transposeTile is the side of the square blocks TransposeBatch moves at
// a time: transposeTile input rows of transposeTile values become as many
// output rows of as many values, so that every cache line it reads or
// writes is used whole while it is in L1, whichever side of the matrix is
// long.
const transposeTile = 8

// transposeRange writes strips [lo, hi), each transposeTile input rows
// (output columns) of one matrix, block by block.
func transposeRange(a *kernelArgs, lo, hi int) {
	const t = transposeTile
	rows, cols := a.rows, a.cols
	strips := (rows + t - 1) / t
	for q := lo; q < hi; q++ {
		b, i0 := q/strips, (q%strips)*t
		src := a.x[b*rows*cols : (b+1)*rows*cols]
		dst := a.y[b*rows*cols : (b+1)*rows*cols]
		if i0+t > rows {
			// The last, partial strip: value by value.
			for i := i0; i < rows; i++ {
				for j, v := range src[i*cols : (i+1)*cols] {
					dst[j*rows+i] = v
				}
			}
			continue
		}
		j := 0
		for ; j+t <= cols; j += t {
			transpose8(src[i0*cols+j:], dst[j*rows+i0:], cols, rows)
		}
		for ; j < cols; j++ {
			d := dst[j*rows+i0 : j*rows+i0+t : j*rows+i0+t]
			for i := range d {
				d[i] = src[(i0+i)*cols+j]
			}
		}
	}
}

// transpose8 writes the transpose of the 8×8 block at the start of src
// (row stride ss) to the start of dst (row stride ds), one input column
// at a time: eight loads from eight cache lines, one contiguous store.
func transpose8(src, dst []float32, ss, ds int) {
	_ = src[7*ss+7]
	_ = dst[7*ds+7]
	for j := 0; j < 8; j++ {
		d := dst[j*ds : j*ds+8 : j*ds+8]
		d[0], d[1], d[2], d[3] = src[j], src[ss+j], src[2*ss+j], src[3*ss+j]
		d[4], d[5], d[6], d[7] = src[4*ss+j], src[5*ss+j], src[6*ss+j], src[7*ss+j]
	}
}

// AddChannels adds v[ch] to channel ch of x.
func (c *Backend) AddChannels(n, ch, hw int, v, x backend.Buffer) {
	if !c.ok() || !c.valid("AddChannels", backend.CheckBatch(n, ch, hw)) {
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
	if !c.ok() || !c.valid("SumChannels", backend.CheckBatch(n, ch, hw)) {
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
// It keeps four partial sums, one per position mod 4 within each plane,
// added together at the end: one running sum would wait on its previous
// addition at every value. The order is fixed by the shape alone.
func channelSum(x []float32, n, c, hw, ch int) float64 {
	var s0, s1, s2, s3 float64
	for b := 0; b < n; b++ {
		p := x[(b*c+ch)*hw : (b*c+ch+1)*hw]
		i := 0
		for ; i+4 <= len(p); i += 4 {
			q := p[i : i+4 : i+4]
			s0 += float64(q[0])
			s1 += float64(q[1])
			s2 += float64(q[2])
			s3 += float64(q[3])
		}
		for ; i < len(p); i++ {
			s0 += float64(p[i])
		}
	}
	return (s0 + s1) + (s2 + s3)
}

// channelSqDev returns Σ (x − m)² over channel ch, in channelSum's order.
func channelSqDev(x []float32, n, c, hw, ch int, m float64) float64 {
	var s0, s1, s2, s3 float64
	for b := 0; b < n; b++ {
		p := x[(b*c+ch)*hw : (b*c+ch+1)*hw]
		i := 0
		for ; i+4 <= len(p); i += 4 {
			q := p[i : i+4 : i+4]
			d0, d1, d2, d3 := float64(q[0])-m, float64(q[1])-m, float64(q[2])-m, float64(q[3])-m
			s0 += d0 * d0
			s1 += d1 * d1
			s2 += d2 * d2
			s3 += d3 * d3
		}
		for ; i < len(p); i++ {
			d := float64(p[i]) - m
			s0 += d * d
		}
	}
	return (s0 + s1) + (s2 + s3)
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
	if !c.ok() || !c.valid("MaxPoolForward", g.CheckPool()) {
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

// maxPoolForwardRange pools planes [lo, hi). A window's values are
// compared in row-major order and a value replaces the best so far only
// when strictly greater, so the first maximum wins (and a NaN only when it
// comes first), as on the other backends. Which value wins is data, and a
// branch on it is mispredicted about every other time, so windows wholly
// inside the plane take maxWindow, whose selects compile to conditional
// moves.
func maxPoolForwardRange(a *kernelArgs, lo, hi int) {
	g := a.geom
	plane, out := g.H*g.W, a.oh*a.ow
	for pl := lo; pl < hi; pl++ {
		xp := a.x[pl*plane : (pl+1)*plane]
		yp, ap := a.y[pl*out:(pl+1)*out], a.z[pl*out:(pl+1)*out]
		for oy := 0; oy < a.oh; oy++ {
			h0 := oy*g.StrideH - g.PadH
			kh0, kh1 := validRange(h0, g.KH, g.H)
			yr, ar := yp[oy*a.ow:(oy+1)*a.ow], ap[oy*a.ow:(oy+1)*a.ow]
			for ox := range yr {
				w0 := ox*g.StrideW - g.PadW
				kw0, kw1 := validRange(w0, g.KW, g.W)
				if kh0 == 0 && kh1 == g.KH && kw0 == 0 && kw1 == g.KW {
					var best float32
					var bi int
					if g.KH == 2 && g.KW == 2 {
						best, bi = maxWindow2(xp, h0*g.W+w0, g.W)
					} else {
						best, bi = maxWindow(xp, h0*g.W+w0, g.W, g.KH, g.KW)
					}
					yr[ox], ar[ox] = best, float32(bi)
					continue
				}
				best, bi := float32(math.Inf(-1)), -1
				for kh := kh0; kh < kh1; kh++ {
					o := (h0+kh)*g.W + w0
					for kw := kw0; kw < kw1; kw++ {
						if v := xp[o+kw]; bi < 0 || v > best {
							best, bi = v, o+kw
						}
					}
				}
				yr[ox], ar[ox] = best, float32(bi)
			}
		}
	}
}

// maxWindow returns the first maximum of the kh×kw window at offset o of
// the plane xp (row length w) and its index. best is carried as bits in an
// integer register, so that both selects are conditional moves.
func maxWindow(xp []float32, o, w, kh, kw int) (float32, int) {
	best := xp[o]
	bb, bi := math.Float32bits(best), o
	for r := 0; r < kh; r++ {
		row := xp[o+r*w : o+r*w+kw]
		for j, v := range row {
			vb, i := math.Float32bits(v), o+r*w+j
			if v > best {
				bb = vb
			}
			if v > best {
				bi = i
			}
			best = math.Float32frombits(bb)
		}
	}
	return best, bi
}

// maxWindow2 is maxWindow for 2×2 windows, unrolled.
func maxWindow2(xp []float32, o, w int) (float32, int) {
	r0, r1 := xp[o:o+2:o+2], xp[o+w:o+w+2:o+w+2]
	best := r0[0]
	bb, bi := math.Float32bits(best), o
	v, vb := r0[1], math.Float32bits(r0[1])
	if v > best {
		bb = vb
	}
	if v > best {
		bi = o + 1
	}
	best = math.Float32frombits(bb)
	v, vb = r1[0], math.Float32bits(r1[0])
	if v > best {
		bb = vb
	}
	if v > best {
		bi = o + w
	}
	best = math.Float32frombits(bb)
	v, vb = r1[1], math.Float32bits(r1[1])
	if v > best {
		bb = vb
	}
	if v > best {
		bi = o + w + 1
	}
	return math.Float32frombits(bb), bi
}

// MaxPoolBackward routes dy to each window's argmax.
func (c *Backend) MaxPoolBackward(g backend.ConvGeom, dy, argmax, dx backend.Buffer) {
	if !c.ok() || !c.valid("MaxPoolBackward", g.CheckPool()) {
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
	if !c.ok() || !c.valid("AvgPoolForward", g.CheckPool()) {
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
	if !c.ok() || !c.valid("AvgPoolBackward", g.CheckPool()) {
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
	if !c.ok() || !c.valid("BatchNormStats", backend.CheckBatch(n, ch, hw)) {
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
		a.mean[ch], a.vari[ch] = float32(m), float32(channelSqDev(a.x, n, c, hw, ch, m)/count)
	}
}

// invStd returns 1/√(variance + eps) in float64.
func invStd(variance, eps float32) float64 {
	return 1 / math.Sqrt(float64(variance)+float64(eps))
}

// BatchNormForward normalizes x with the given statistics, scales and
// shifts.
func (c *Backend) BatchNormForward(n, ch, hw int, eps float32, x, mean, variance, gamma, beta, y backend.Buffer) {
	if !c.ok() || !c.valid("BatchNormForward", backend.CheckBatch(n, ch, hw)) {
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
	if !c.ok() || !c.valid("BatchNormBackward", backend.CheckBatch(n, ch, hw)) {
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
		sdy, sdyx := dyMoments(a.x, a.y, n, c, hw, ch, m)
		sdyx *= inv
		a.dgamma[ch] += float32(sdyx)
		a.dbeta[ch] += float32(sdy)
		k := float64(a.gamma[ch]) * inv
		mdy, mdyx := sdy/count, sdyx/count
		if !a.batchStats {
			mdy, mdyx = 0, 0
		}
		// dx = k·(dy − mdy − x̂·mdyx) = k·dy + (k·mdyx·inv·m − k·mdy) − k·mdyx·inv·x:
		// one multiply-add per value, in float64.
		ca, cb := k*mdyx*inv, k*mdy
		c0 := ca*m - cb
		for b := 0; b < n; b++ {
			o := (b*c + ch) * hw
			x, dy, dx := a.x[o:o+hw], a.y[o:o+hw], a.z[o:o+hw]
			x, dy = x[:len(dx)], dy[:len(dx)]
			for i, g := range dy {
				dx[i] = float32(k*float64(g) + c0 - ca*float64(x[i]))
			}
		}
	}
}

// dyMoments returns Σ dy and Σ dy·(x − m) over channel ch, with four
// partial sums each, as channelSum.
func dyMoments(x, dy []float32, n, c, hw, ch int, m float64) (sdy, sdyx float64) {
	var s0, s1, s2, s3, t0, t1, t2, t3 float64
	for b := 0; b < n; b++ {
		o := (b*c + ch) * hw
		xp, gp := x[o:o+hw], dy[o:o+hw]
		xp = xp[:len(gp)]
		i := 0
		for ; i+4 <= len(gp); i += 4 {
			g, v := gp[i:i+4:i+4], xp[i:i+4:i+4]
			g0, g1, g2, g3 := float64(g[0]), float64(g[1]), float64(g[2]), float64(g[3])
			s0 += g0
			s1 += g1
			s2 += g2
			s3 += g3
			t0 += g0 * (float64(v[0]) - m)
			t1 += g1 * (float64(v[1]) - m)
			t2 += g2 * (float64(v[2]) - m)
			t3 += g3 * (float64(v[3]) - m)
		}
		for ; i < len(gp); i++ {
			g := float64(gp[i])
			s0 += g
			t0 += g * (float64(xp[i]) - m)
		}
	}
	return (s0 + s1) + (s2 + s3), (t0 + t1) + (t2 + t3)
}
