package cpu

import (
	"math"

	"github.com/diynn/diynn/backend"
)

// The fused linear layer (backend.FusedLinear).
//
// Forward: GemmBiasAct is Gemm with an epilogue, bias then activation, that
// diynn's SGEMM runs on each 6×16 (with AVX-512 6×32) block of C right
// after the micro-kernel stores the block's final values
// (gemm.Workspace.SgemmEpilogue), while the block is in L1; the other
// SGEMMs (gonum, OpenBLAS) get it per tile of C after the tile's product.
// The epilogue calls the code of AddRowVector's addition and of
// ActForward, in the same order, so the values are those of the three
// kernels run one after the other, bit for bit.
//
// Backward: ActBackwardSumRows computes dx = f'(y)·dy row by row in
// SumRows's blocks of rows and adds each row of dx into the block's float64
// column sums while it is in cache: SumRows's sums, in its order, without
// reading dx again.

var _ backend.FusedLinear = (*Backend)(nil)

// gemmEpilogue is GemmBiasAct's epilogue on one tile of C (gemm.Epilogue).
type gemmEpilogue struct {
	bias  []float32 // the tile's columns of the bias, or nil
	act   backend.Activation
	alpha float32
}

// Apply adds the bias to the rows×cols block at c and applies the
// activation, row by row.
func (e *gemmEpilogue) Apply(c []float32, ldc, rows, cols, col int) {
	for i := 0; i < rows; i++ {
		row := c[i*ldc : i*ldc+cols]
		if e.bias != nil {
			bias := e.bias[col : col+cols]
			for j, b := range bias {
				row[j] += b
			}
		}
		if e.act != backend.Identity {
			actForward(e.act, e.alpha, row, row)
		}
	}
}

// GemmBiasAct computes C = f(alpha·op(A)·op(B) + beta·C + bias).
func (c *Backend) GemmBiasAct(transA, transB bool, m, n, k int, alpha float32, a, b backend.Buffer, beta float32, cb backend.Buffer, bias backend.Buffer, f backend.Activation, fAlpha float32) {
	if !c.ok() {
		return
	}
	if err := f.CheckEpilogue(); err != nil {
		c.fail("GemmBiasAct: %w", err)
		return
	}
	c.gemm2("GemmBiasAct", transA, transB, m, n, k, alpha, a, b, beta, cb, true, bias, f, fAlpha)
}

// ActBackwardSumRows computes dx = f'(y)·dy and dbias = beta·dbias + Σ rows
// of dx.
func (c *Backend) ActBackwardSumRows(f backend.Activation, fAlpha float32, rows, cols int, y, dy, dx backend.Buffer, beta float32, dbias backend.Buffer) {
	const op = "ActBackwardSumRows"
	if !c.ok() || !c.dims(op, rows, cols) {
		return
	}
	if err := f.CheckEpilogue(); err != nil {
		c.fail("%s: %w", op, err)
		return
	}
	n := rows * cols
	yd, dyd, dxd := c.data(y, n, op, "y"), c.data(dy, n, op, "dy"), c.data(dx, n, op, "dx")
	var dd []float32
	if dbias != nil {
		dd = c.data(dbias, cols, op, "dbias")
	}
	if c.err != nil || cols == 0 {
		return
	}
	if f == backend.ReLU {
		fAlpha = 0
	}
	if dbias == nil {
		c.args = kernelArgs{y: yd, z: dyd, w: dxd, act: f, alpha: fAlpha}
		c.run(n, 3, actBackwardYRange)
		return
	}
	blocks := max(1, (rows+sumRowsBlock-1)/sumRowsBlock)
	if cap(c.colPartial) < blocks*cols {
		c.colPartial = make([]float64, blocks*cols)
	}
	part := c.colPartial[:blocks*cols]
	c.args = kernelArgs{y: yd, z: dyd, w: dxd, act: f, alpha: fAlpha, rows: rows, cols: cols, partial: part}
	c.run(blocks, sumRowsBlock*cols*4, actBackwardSumRowsRange)
	addBlockSums(part, blocks, beta, dd)
}

func actBackwardYRange(a *kernelArgs, lo, hi int) {
	actBackwardY(a.act, a.alpha, a.y[lo:hi], a.z[lo:hi], a.w[lo:hi])
}

// actBackwardSumRowsRange computes dx for the rows of blocks [lo, hi) and
// each block's column sums, as sumRowsRange sums them.
func actBackwardSumRowsRange(a *kernelArgs, lo, hi int) {
	cols := a.cols
	for b := lo; b < hi; b++ {
		s := a.partial[b*cols : (b+1)*cols]
		clear(s)
		for r := b * sumRowsBlock; r < min((b+1)*sumRowsBlock, a.rows); r++ {
			row := a.w[r*cols : (r+1)*cols]
			actBackwardY(a.act, a.alpha, a.y[r*cols:(r+1)*cols], a.z[r*cols:(r+1)*cols], row)
			row = row[:len(s)]
			for j, v := range row {
				s[j] += float64(v)
			}
		}
	}
}

// actBackwardY computes dx = f'·dy with the derivative taken from the
// output y, with the expressions of actBackwardRange, so that the values
// are ActBackward's bit for bit (for the ReLUs with a slope ≥ 0, y > 0
// exactly when x > 0). alpha is 0 for ReLU. dx may be dy.
func actBackwardY(f backend.Activation, alpha float32, y, dy, dx []float32) {
	y, dx = y[:len(dy)], dx[:len(dy)]
	switch f {
	case backend.Identity:
		copy(dx, dy)
	case backend.Tanh:
		for i, g := range dy {
			dx[i] = g * (1 - y[i]*y[i])
		}
	case backend.Sigmoid:
		for i, g := range dy {
			dx[i] = g * y[i] * (1 - y[i])
		}
	default: // ReLU (alpha 0) and LeakyReLU: the bit test of actBackwardRange
		slope, one := math.Float32bits(alpha), math.Float32bits(1)
		for i, g := range dy {
			s := slope
			if math.Float32bits(y[i])-1 < 0x7f800000 {
				s = one
			}
			dx[i] = g * math.Float32frombits(s)
		}
	}
}
