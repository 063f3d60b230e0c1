package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/diynn/diynn/backend"
)

// convGeoms are the awkward geometries of the convolution cases: odd image
// sizes, 1×1 images and kernels, a kernel as large as the image, strides
// of 2 and larger than the kernel, unequal strides and pads, pads of 1 and
// 2 (with a 1×1 kernel, windows that lie wholly in the padding), 1 channel
// and batch 1.
var convGeoms = []backend.ConvGeom{
	{N: 2, C: 3, H: 5, W: 7, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 1, C: 1, H: 1, W: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
	{N: 2, C: 1, H: 28, W: 28, KH: 5, KW: 5, StrideH: 2, StrideW: 2, PadH: 2, PadW: 2},
	{N: 3, C: 2, H: 5, W: 7, KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0},
	{N: 2, C: 3, H: 5, W: 7, KH: 5, KW: 7, StrideH: 1, StrideW: 1},
	{N: 2, C: 2, H: 7, W: 9, KH: 2, KW: 2, StrideH: 3, StrideW: 3},
	{N: 1, C: 2, H: 3, W: 4, KH: 1, KW: 1, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2},
	{N: 1, C: 4, H: 6, W: 6, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 2, PadW: 1},
}

// poolGeoms are pooling geometries (pads at most half the window, as
// PyTorch requires): the usual 2×2 stride 2 on odd images, 3×3 stride 2
// pad 1 on 28×28, overlapping windows, 1×1 images, a window as large as
// the image, a stride larger than the window and a pad of 2.
var poolGeoms = []backend.ConvGeom{
	{N: 2, C: 3, H: 5, W: 7, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
	{N: 1, C: 1, H: 28, W: 28, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
	{N: 2, C: 2, H: 5, W: 7, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1},
	{N: 1, C: 2, H: 1, W: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
	{N: 2, C: 1, H: 5, W: 7, KH: 5, KW: 7, StrideH: 1, StrideW: 1},
	{N: 2, C: 2, H: 7, W: 9, KH: 2, KW: 2, StrideH: 3, StrideW: 3},
	{N: 1, C: 3, H: 6, W: 7, KH: 4, KW: 5, StrideH: 2, StrideW: 3, PadH: 2, PadW: 2},
}

// xAt returns x[n, c, h, w] of an NCHW batch, 0 outside the image: the
// zero padding, written from the definition.
func xAt(x []float32, g backend.ConvGeom, n, c, h, w int) float64 {
	if h < 0 || h >= g.H || w < 0 || w >= g.W {
		return 0
	}
	return float64(x[((n*g.C+c)*g.H+h)*g.W+w])
}

// convolution checks Im2Col, Gemm, TransposeBatch and AddChannels
// composed into a convolution, against a direct convolution loop; Im2Col
// alone against its definition; and Col2Im as Im2Col's exact adjoint and
// against a float64 scatter.
func (s *suite) convolution(t *testing.T) {
	for _, g := range convGeoms {
		oh, ow := g.OutH(), g.OutW()
		k := g.C * g.KH * g.KW
		rows := g.N * oh * ow
		x := s.random(g.InLen(), -1, 1)
		xb, cb := s.upload(x), s.poisoned(g.ColsLen())
		s.b.Im2Col(g, xb, cb)
		cols := s.download(t, cb, g.ColsLen())
		want := make([]float64, g.ColsLen())
		for r := range rows {
			n, oy, ox := r/(oh*ow), r/ow%oh, r%ow
			for c := range g.C {
				for kh := range g.KH {
					for kw := range g.KW {
						want[r*k+(c*g.KH+kh)*g.KW+kw] = xAt(x, g, n, c, oy*g.StrideH-g.PadH+kh, ox*g.StrideW-g.PadW+kw)
					}
				}
			}
		}
		check(t, fmt.Sprintf("Im2Col(%v)", g), cols, want, 0, 0)

		// A convolution of OC = 3 output channels with bias: cols·Wᵀ is
		// NHWC; TransposeBatch makes it NCHW, AddChannels adds the bias.
		const oc = 3
		wt, bias := s.random(oc*k, -1, 1), s.random(oc, -1, 1)
		wb, bb := s.upload(wt), s.upload(bias)
		nhwc, y := s.poisoned(rows*oc), s.poisoned(rows*oc)
		s.b.Gemm(false, true, rows, oc, k, 1, cb, wb, 0, nhwc)
		s.b.TransposeBatch(g.N, oh*ow, oc, nhwc, y)
		s.b.AddChannels(g.N, oc, oh*ow, bb, y)
		wantY := make([]float64, rows*oc)
		for n := range g.N {
			for o := range oc {
				for oy := range oh {
					for ox := range ow {
						sum := float64(bias[o])
						for c := range g.C {
							for kh := range g.KH {
								for kw := range g.KW {
									sum += float64(wt[(o*g.C+c)*g.KH*g.KW+kh*g.KW+kw]) *
										xAt(x, g, n, c, oy*g.StrideH-g.PadH+kh, ox*g.StrideW-g.PadW+kw)
								}
							}
						}
						wantY[((n*oc+o)*oh+oy)*ow+ox] = sum
					}
				}
			}
		}
		check(t, fmt.Sprintf("convolution by Im2Col, Gemm, TransposeBatch, AddChannels (%v)", g), s.download(t, y, rows*oc), wantY, 1e-5*float64(k), 1e-5)

		// Col2Im: beta 0 into NaN, then 1 and 0.5 onto values.
		c := s.random(g.ColsLen(), -1, 1)
		s.b.Upload(cb, c)
		scatter := make([]float64, g.InLen())
		for r := range rows {
			n, oy, ox := r/(oh*ow), r/ow%oh, r%ow
			for ch := range g.C {
				for kh := range g.KH {
					for kw := range g.KW {
						h, w := oy*g.StrideH-g.PadH+kh, ox*g.StrideW-g.PadW+kw
						if h >= 0 && h < g.H && w >= 0 && w < g.W {
							scatter[((n*g.C+ch)*g.H+h)*g.W+w] += float64(c[r*k+(ch*g.KH+kh)*g.KW+kw])
						}
					}
				}
			}
		}
		win := float64(g.KH * g.KW)
		for _, beta := range []float32{0, 1, 0.5} {
			x0 := s.random(g.InLen(), -1, 1)
			var db backend.Buffer
			wantX := make([]float64, g.InLen())
			if beta == 0 {
				db = s.poisoned(g.InLen())
			} else {
				db = s.upload(x0)
			}
			for i := range wantX {
				wantX[i] = scatter[i] + float64(beta)*float64(x0[i])
			}
			s.b.Col2Im(g, cb, beta, db)
			got := s.download(t, db, g.InLen())
			check(t, fmt.Sprintf("Col2Im(%v, beta=%v)", g, beta), got, wantX, 1e-6*win, 1e-6)
			if beta == 0 {
				// The adjoint identity <Im2Col(x), c> = <x, Col2Im(c)>.
				var lhs, rhs, scale float64
				for i, v := range cols {
					lhs += float64(v) * float64(c[i])
					scale += math.Abs(float64(v) * float64(c[i]))
				}
				for i, v := range got {
					rhs += float64(x[i]) * float64(v)
				}
				if math.Abs(lhs-rhs) > 1e-6*scale+1e-9 {
					t.Errorf("%v: <Im2Col(x), c> = %v, <x, Col2Im(c)> = %v", g, lhs, rhs)
				}
			}
			s.b.Free(db)
		}
		for _, buf := range []backend.Buffer{xb, cb, wb, bb, nhwc, y} {
			s.b.Free(buf)
		}
	}
}

// channels checks TransposeBatch, CopyColumns, AddChannels and SumChannels on their
// own, on sizes that span several of a work-group's strides.
func (s *suite) channels(t *testing.T) {
	for _, n := range []int{1, 3} {
		for _, rows := range []int{1, 7, 33} {
			for _, cols := range []int{1, 7, 257} {
				x := s.random(n*rows*cols, -1, 1)
				xb, yb := s.upload(x), s.poisoned(n*rows*cols)
				s.b.TransposeBatch(n, rows, cols, xb, yb)
				want := make([]float64, n*rows*cols)
				for b := range n {
					for i := range rows {
						for j := range cols {
							want[(b*cols+j)*rows+i] = float64(x[(b*rows+i)*cols+j])
						}
					}
				}
				check(t, fmt.Sprintf("TransposeBatch(%d, %d×%d)", n, rows, cols), s.download(t, yb, n*rows*cols), want, 0, 0)
				s.b.Free(xb)
				s.b.Free(yb)
			}
		}
	}
	// CopyColumns: blocks at the start, middle and end of rows of awkward
	// widths; the destination's other columns must keep their values.
	for _, c := range []struct{ rows, width, srcCols, srcCol, dstCols, dstCol int }{
		{1, 1, 1, 0, 1, 0}, {7, 3, 10, 7, 33, 0}, {33, 257, 257, 0, 300, 43}, {257, 1, 7, 6, 8, 7}, {5, 0, 4, 4, 4, 0}, {0, 3, 3, 0, 3, 0},
	} {
		src, dst := s.random(c.rows*c.srcCols, -1, 1), s.random(c.rows*c.dstCols, -1, 1)
		sb, db := s.upload(src), s.upload(dst)
		s.b.CopyColumns(c.rows, c.width, sb, c.srcCols, c.srcCol, db, c.dstCols, c.dstCol)
		want := make([]float64, len(dst))
		for i, v := range dst {
			want[i] = float64(v)
		}
		for r := range c.rows {
			for j := range c.width {
				want[r*c.dstCols+c.dstCol+j] = float64(src[r*c.srcCols+c.srcCol+j])
			}
		}
		check(t, fmt.Sprintf("CopyColumns(%+v)", c), s.download(t, db, len(dst)), want, 0, 0)
		s.b.Free(sb)
		s.b.Free(db)
	}
	for _, sh := range [][3]int{{1, 1, 1}, {3, 7, 33}, {2, 1, 257}, {1, 5, 1}, {5, 3, 2000}, {0, 3, 4}} {
		n, c, hw := sh[0], sh[1], sh[2]
		x, v := s.random(n*c*hw, -1, 1), s.random(c, -1, 1)
		xb, vb := s.upload(x), s.upload(v)
		s.b.AddChannels(n, c, hw, vb, xb)
		want := make([]float64, n*c*hw)
		for i := range want {
			want[i] = float64(x[i]) + float64(v[i/hw%c])
		}
		name := fmt.Sprintf("(%d×%d×%d)", n, c, hw)
		check(t, "AddChannels"+name, s.download(t, xb, n*c*hw), want, 1e-6, 1e-6)
		s.b.Upload(xb, x)
		for _, beta := range []float32{0, 1, 0.5} {
			d0 := s.random(c, -1, 1)
			db := s.upload(d0)
			if beta == 0 {
				db = s.poisoned(c)
			}
			sum := make([]float64, c)
			for i, xv := range x {
				sum[i/hw%c] += float64(xv)
			}
			for j := range sum {
				sum[j] += float64(beta) * float64(d0[j])
			}
			s.b.SumChannels(n, c, hw, xb, beta, db)
			check(t, fmt.Sprintf("SumChannels%s beta=%v", name, beta), s.download(t, db, c), sum, 1e-6*math.Sqrt(float64(n*hw)+1), 1e-6)
			s.b.Free(db)
		}
		s.b.Free(xb)
		s.b.Free(vb)
	}
}

// windowStart is the input index where output o's window starts (negative
// in the padding).
func windowStart(o, stride, pad int) int { return o*stride - pad }

// pooling checks max and average pooling against direct loops, ties
// included (values drawn from a few integers, so that windows often hold
// several maxima: the first in row-major order must win), and their
// backwards against float64 scatters.
func (s *suite) pooling(t *testing.T) {
	for _, g := range poolGeoms {
		oh, ow := g.OutH(), g.OutW()
		out := g.OutLen()
		x := make([]float32, g.InLen())
		for i := range x {
			x[i] = float32(s.rng.IntN(4)) - 2 // ties, and negative values beside zero padding
		}
		xb, yb, ab := s.upload(x), s.poisoned(out), s.poisoned(out)
		s.b.MaxPoolForward(g, xb, yb, ab)
		wantY, wantA := make([]float64, out), make([]float64, out)
		wantAvg := make([]float64, out)
		for p := range g.N * g.C {
			for oy := range oh {
				for ox := range ow {
					best, bi := math.Inf(-1), -1
					var sum float64
					for kh := range g.KH {
						for kw := range g.KW {
							h, w := windowStart(oy, g.StrideH, g.PadH)+kh, windowStart(ox, g.StrideW, g.PadW)+kw
							if h < 0 || h >= g.H || w < 0 || w >= g.W {
								continue // −∞ for max, 0 for the mean
							}
							v := float64(x[p*g.H*g.W+h*g.W+w])
							sum += v
							if v > best {
								best, bi = v, h*g.W+w
							}
						}
					}
					o := (p*oh+oy)*ow + ox
					wantY[o], wantA[o], wantAvg[o] = best, float64(bi), sum/float64(g.KH*g.KW)
				}
			}
		}
		check(t, fmt.Sprintf("MaxPoolForward(%v) y", g), s.download(t, yb, out), wantY, 0, 0)
		check(t, fmt.Sprintf("MaxPoolForward(%v) argmax", g), s.download(t, ab, out), wantA, 0, 0)

		dy := s.random(out, -1, 1)
		dyb, dxb := s.upload(dy), s.poisoned(g.InLen())
		s.b.MaxPoolBackward(g, dyb, ab, dxb)
		wantDx := make([]float64, g.InLen())
		for o, a := range wantA {
			p := o / (oh * ow)
			wantDx[p*g.H*g.W+int(a)] += float64(dy[o])
		}
		check(t, fmt.Sprintf("MaxPoolBackward(%v)", g), s.download(t, dxb, g.InLen()), wantDx, 1e-6, 1e-6)

		s.b.AvgPoolForward(g, xb, yb)
		check(t, fmt.Sprintf("AvgPoolForward(%v)", g), s.download(t, yb, out), wantAvg, 1e-6, 1e-6)
		s.b.Free(dxb)
		dxb = s.poisoned(g.InLen())
		s.b.AvgPoolBackward(g, dyb, dxb)
		for i := range wantDx {
			wantDx[i] = 0
		}
		for p := range g.N * g.C {
			for oy := range oh {
				for ox := range ow {
					d := float64(dy[(p*oh+oy)*ow+ox]) / float64(g.KH*g.KW)
					for kh := range g.KH {
						for kw := range g.KW {
							h, w := windowStart(oy, g.StrideH, g.PadH)+kh, windowStart(ox, g.StrideW, g.PadW)+kw
							if h >= 0 && h < g.H && w >= 0 && w < g.W {
								wantDx[p*g.H*g.W+h*g.W+w] += d
							}
						}
					}
				}
			}
		}
		check(t, fmt.Sprintf("AvgPoolBackward(%v)", g), s.download(t, dxb, g.InLen()), wantDx, 1e-6, 1e-6)
		for _, buf := range []backend.Buffer{xb, yb, ab, dyb, dxb} {
			s.b.Free(buf)
		}
	}
}

// bnForward64 is batch normalization in float64: with stats, x's own
// biased statistics; otherwise the given ones.
func bnForward64(x []float64, n, c, hw int, eps float64, stats bool, mean, variance, gamma, beta []float64) []float64 {
	m, v := mean, variance
	if stats {
		m, v = make([]float64, c), make([]float64, c)
		for i, xv := range x {
			m[i/hw%c] += xv / float64(n*hw)
		}
		for i, xv := range x {
			d := xv - m[i/hw%c]
			v[i/hw%c] += d * d / float64(n*hw)
		}
	}
	y := make([]float64, len(x))
	for i, xv := range x {
		ch := i / hw % c
		y[i] = (xv-m[ch])/math.Sqrt(v[ch]+eps)*gamma[ch] + beta[ch]
	}
	return y
}

// batchNorm checks the statistics, the forward pass and the backward
// against float64 formulas, and the backward (dx, dgamma, dbeta) against
// central differences of the float64 forward, with the batch's own
// statistics (training) and with fixed ones (eval).
func (s *suite) batchNorm(t *testing.T) {
	const eps = 1e-5
	for _, sh := range [][3]int{{1, 1, 1}, {2, 3, 5}, {1, 4, 33}, {7, 2, 257}, {3, 1, 1}, {64, 3, 1}, {4, 2, 700}} {
		n, c, hw := sh[0], sh[1], sh[2]
		total := n * c * hw
		name := fmt.Sprintf("(%d×%d×%d)", n, c, hw)
		// An offset of 50 loses E[x²] − E[x]² in float32: two passes keep it.
		x := s.random(total, 49, 51)
		xb, mb, vb := s.upload(x), s.poisoned(c), s.poisoned(c)
		s.b.BatchNormStats(n, c, hw, xb, mb, vb)
		x64 := widen(x)
		wantM, wantV := make([]float64, c), make([]float64, c)
		for i, xv := range x64 {
			wantM[i/hw%c] += xv / float64(n*hw)
		}
		for i, xv := range x64 {
			d := xv - wantM[i/hw%c]
			wantV[i/hw%c] += d * d / float64(n*hw)
		}
		check(t, "BatchNormStats mean"+name, s.download(t, mb, c), wantM, 1e-5, 1e-6)
		check(t, "BatchNormStats variance"+name, s.download(t, vb, c), wantV, 2e-5, 1e-4)

		gamma, beta := s.random(c, 0.5, 1.5), s.random(c, -1, 1)
		gb, bb := s.upload(gamma), s.upload(beta)
		for _, stats := range []bool{true, false} {
			// Centred data for the gradients, so that x̂ is of order 1 and
			// central differences are accurate.
			x := s.random(total, -2, 2)
			x64 := widen(x)
			var mean, variance []float32
			if stats {
				mean, variance = make([]float32, c), make([]float32, c)
				var m64, v64 [64]float64
				for i, xv := range x64 {
					m64[i/hw%c] += xv / float64(n*hw)
				}
				for i, xv := range x64 {
					d := xv - m64[i/hw%c]
					v64[i/hw%c] += d * d / float64(n*hw)
				}
				for ch := range c {
					mean[ch], variance[ch] = float32(m64[ch]), float32(v64[ch])
				}
			} else {
				mean, variance = s.random(c, -0.5, 0.5), s.random(c, 0.5, 2)
			}
			m64, v64, g64, b64 := widen(mean), widen(variance), widen(gamma), widen(beta)
			s.b.Upload(xb, x)
			s.b.Upload(mb, mean)
			s.b.Upload(vb, variance)
			yb := s.poisoned(total)
			s.b.BatchNormForward(n, c, hw, eps, xb, mb, vb, gb, bb, yb)
			wantY := bnForward64(x64, n, c, hw, eps, false, m64, v64, g64, b64)
			sname := fmt.Sprintf("%s batchStats=%v", name, stats)
			check(t, "BatchNormForward"+sname, s.download(t, yb, total), wantY, 1e-5, 1e-5)

			dy := s.random(total, -1, 1)
			dg0, db0 := s.random(c, -1, 1), s.random(c, -1, 1)
			dyb, dxb, dgb, dbb := s.upload(dy), s.poisoned(total), s.upload(dg0), s.upload(db0)
			s.b.BatchNormBackward(n, c, hw, eps, stats, xb, dyb, mb, vb, gb, dxb, dgb, dbb)
			dx, dg, db := s.download(t, dxb, total), s.download(t, dgb, c), s.download(t, dbb, c)

			// The formulas.
			wantDx, wantDg, wantDb := make([]float64, total), widen(dg0), widen(db0)
			sdy, sdyx := make([]float64, c), make([]float64, c)
			for i := range x64 {
				ch := i / hw % c
				xh := (x64[i] - m64[ch]) / math.Sqrt(v64[ch]+eps)
				sdy[ch] += float64(dy[i])
				sdyx[ch] += float64(dy[i]) * xh
			}
			for ch := range c {
				wantDg[ch] += sdyx[ch]
				wantDb[ch] += sdy[ch]
			}
			for i := range x64 {
				ch := i / hw % c
				inv := 1 / math.Sqrt(v64[ch]+eps)
				xh := (x64[i] - m64[ch]) * inv
				d := float64(dy[i])
				if stats {
					cnt := float64(n * hw)
					d -= sdy[ch]/cnt + xh*sdyx[ch]/cnt
				}
				wantDx[i] = g64[ch] * inv * d
			}
			check(t, "BatchNormBackward dx"+sname, dx, wantDx, 1e-5, 1e-4)
			check(t, "BatchNormBackward dgamma"+sname, dg, wantDg, 1e-5*math.Sqrt(float64(n*hw)), 1e-5)
			check(t, "BatchNormBackward dbeta"+sname, db, wantDb, 1e-5*math.Sqrt(float64(n*hw)), 1e-5)

			// Central differences of L = Σ dy·y on the small shapes.
			if total <= 200 {
				dy64 := widen(dy)
				loss := func(x, g, b []float64) float64 {
					var l float64
					for i, v := range bnForward64(x, n, c, hw, eps, stats, m64, v64, g, b) {
						l += dy64[i] * v
					}
					return l
				}
				const h = 1e-6
				fd := func(v []float64, i int, f func() float64) float64 {
					old := v[i]
					v[i] = old + h
					up := f()
					v[i] = old - h
					down := f()
					v[i] = old
					return (up - down) / (2 * h)
				}
				numDx, numDg, numDb := make([]float64, total), widen(dg0), widen(db0)
				for i := range x64 {
					numDx[i] = fd(x64, i, func() float64 { return loss(x64, g64, b64) })
				}
				for ch := range c {
					numDg[ch] += fd(g64, ch, func() float64 { return loss(x64, g64, b64) })
					numDb[ch] += fd(b64, ch, func() float64 { return loss(x64, g64, b64) })
				}
				check(t, "BatchNormBackward dx vs central differences"+sname, dx, numDx, 1e-4, 1e-3)
				check(t, "BatchNormBackward dgamma vs central differences"+sname, dg, numDg, 1e-4, 1e-3)
				check(t, "BatchNormBackward dbeta vs central differences"+sname, db, numDb, 1e-4, 1e-3)
			}
			for _, buf := range []backend.Buffer{yb, dyb, dxb, dgb, dbb} {
				s.b.Free(buf)
			}
		}
		for _, buf := range []backend.Buffer{xb, mb, vb, gb, bb} {
			s.b.Free(buf)
		}
	}
}
