package backend

import (
	"fmt"
	"math"
)

// ConvGeom is the geometry of a 2-D convolution or pooling window over a
// batch of NCHW images: N images of C channels of H×W values, row-major,
// so that value (n, c, h, w) is at ((n·C + c)·H + h)·W + w.
//
// A window of KH×KW values moves StrideH rows and StrideW columns at a
// time over the input padded with PadH rows above and below and PadW
// columns left and right. Output (oh, ow) covers input rows oh·StrideH −
// PadH … oh·StrideH − PadH + KH − 1 and the columns likewise; OutH and OutW
// count the windows that fit whole in the padded input, as PyTorch with
// ceil_mode=False.
type ConvGeom struct {
	N, C, H, W       int // batch, channels, input height and width
	KH, KW           int // window
	StrideH, StrideW int
	PadH, PadW       int
}

// OutH is the output height, (H + 2·PadH − KH)/StrideH + 1, rounded down
// (PyTorch's ceil_mode=False).
func (g ConvGeom) OutH() int { return (g.H+2*g.PadH-g.KH)/g.StrideH + 1 }

// OutW is the output width, (W + 2·PadW − KW)/StrideW + 1, rounded down.
func (g ConvGeom) OutW() int { return (g.W+2*g.PadW-g.KW)/g.StrideW + 1 }

// String writes the geometry as Go would, for error messages and test
// names.
func (g ConvGeom) String() string {
	return fmt.Sprintf("%d×%d×%d×%d k%d×%d s%d×%d p%d×%d", g.N, g.C, g.H, g.W, g.KH, g.KW, g.StrideH, g.StrideW, g.PadH, g.PadW)
}

// Check returns nil for a geometry the kernels can run and otherwise an
// error naming the field at fault: sizes and strides must be positive, pads
// non-negative, the window must fit in the padded input (H + 2·PadH ≥ KH,
// and likewise for W), and the input, the output of N·C·OutH·OutW values
// and Im2Col's (N·OutH·OutW)×(C·KH·KW) matrix must each hold fewer than
// 2³¹ values, since device kernels index with 32-bit ints.
func (g ConvGeom) Check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"N", g.N}, {"C", g.C}, {"H", g.H}, {"W", g.W}, {"KH", g.KH}, {"KW", g.KW}, {"StrideH", g.StrideH}, {"StrideW", g.StrideW}} {
		if f.v <= 0 {
			return fmt.Errorf("geometry %v: %s = %d, want > 0", g, f.name, f.v)
		}
	}
	if g.PadH < 0 || g.PadW < 0 {
		name, v := "PadH", g.PadH
		if g.PadH >= 0 {
			name, v = "PadW", g.PadW
		}
		return fmt.Errorf("geometry %v: %s = %d, want ≥ 0", g, name, v)
	}
	const limit = math.MaxInt32
	if g.PadH > limit || g.PadW > limit || g.H+2*g.PadH < g.KH {
		return fmt.Errorf("geometry %v: KH = %d does not fit H + 2·PadH = %d", g, g.KH, g.H+2*g.PadH)
	}
	if g.W+2*g.PadW < g.KW {
		return fmt.Errorf("geometry %v: KW = %d does not fit W + 2·PadW = %d", g, g.KW, g.W+2*g.PadW)
	}
	oh, ow := g.OutH(), g.OutW()
	switch {
	case !fits(g.N, g.C, g.H, g.W):
		return fmt.Errorf("geometry %v: the input (N·C·H·W) has 2³¹ values or more, more than the kernels can index", g)
	case !fits(g.N, g.C, oh, ow):
		return fmt.Errorf("geometry %v: the output (N·C·OutH·OutW) has 2³¹ values or more, more than the kernels can index", g)
	case !fits(g.N, oh, ow, g.C, g.KH, g.KW):
		return fmt.Errorf("geometry %v: the column matrix (N·OutH·OutW·C·KH·KW) has 2³¹ values or more, more than the kernels can index", g)
	}
	return nil
}

// fits reports whether the product of positive factors is below 2³¹,
// checked factor by factor so that it never overflows an int. (Its
// arguments stay on the stack: Check allocates nothing on success, as the
// kernels that call it must not.)
func fits(fs ...int) bool {
	p := 1
	for _, f := range fs {
		if f > math.MaxInt32/p {
			return false
		}
		p *= f
	}
	return true
}

// CheckBatch returns an error for an n×c×hw batch shape with a negative
// dimension: the check of the per-channel operations.
func CheckBatch(n, c, hw int) error {
	if n < 0 || c < 0 || hw < 0 {
		return fmt.Errorf("negative shape %d×%d×%d", n, c, hw)
	}
	return nil
}

// CheckColumns checks CopyColumns' block: a non-negative shape, and
// width columns from srcCol (dstCol) inside a row of srcCols (dstCols).
func CheckColumns(rows, width, srcCols, srcCol, dstCols, dstCol int) error {
	switch {
	case rows < 0 || width < 0 || srcCols < 0 || dstCols < 0:
		return fmt.Errorf("negative shape: %d rows, %d columns of %d into %d", rows, width, srcCols, dstCols)
	case srcCol < 0 || srcCol+width > srcCols:
		return fmt.Errorf("source columns [%d, %d) outside rows of %d", srcCol, srcCol+width, srcCols)
	case dstCol < 0 || dstCol+width > dstCols:
		return fmt.Errorf("destination columns [%d, %d) outside rows of %d", dstCol, dstCol+width, dstCols)
	}
	return nil
}

// CheckPool is Check with PyTorch's rule for pooling windows: a pad of at
// most half the window (PadH ≤ KH/2, PadW ≤ KW/2), so that every window
// holds at least one value of the input.
func (g ConvGeom) CheckPool() error {
	if err := g.Check(); err != nil {
		return err
	}
	if 2*g.PadH > g.KH {
		return fmt.Errorf("geometry %v: PadH = %d is more than half of KH = %d", g, g.PadH, g.KH)
	}
	if 2*g.PadW > g.KW {
		return fmt.Errorf("geometry %v: PadW = %d is more than half of KW = %d", g, g.PadW, g.KW)
	}
	return nil
}

// InLen is the number of values of the input, N·C·H·W.
func (g ConvGeom) InLen() int { return g.N * g.C * g.H * g.W }

// OutLen is the number of values of a pooling output, N·C·OutH·OutW.
func (g ConvGeom) OutLen() int { return g.N * g.C * g.OutH() * g.OutW() }

// ColsLen is the number of values of Im2Col's matrix, (N·OutH·OutW) ×
// (C·KH·KW).
func (g ConvGeom) ColsLen() int { return g.N * g.OutH() * g.OutW() * g.C * g.KH * g.KW }
