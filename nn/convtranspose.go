package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// ConvTranspose2D is the transposed convolution of PyTorch's
// nn.ConvTranspose2d, the layer that grows images in a decoder: its forward
// pass is the input gradient of a Conv2D from Out to In channels with the
// same K, Stride and Pad, so that each input value spreads a K×K patch of
// weights over the output, Stride values apart. An (In×H×W) input gives
// (Out×OH×OW) with
//
//	OH = (H − 1)·Stride − 2·Pad + K + OutPad
//
// and OW likewise; OutPad (< Stride, PyTorch's rule) adds rows and columns
// at the bottom and right that pick the size when several give the same
// convolution output, e.g. 7 → 14 with K = 3, Stride = 2, Pad = 1, OutPad = 1.
//
// W is stored (In×Out×K×K) and the bias (Out), as PyTorch's. The forward
// pass is the NHWC input times W, viewed (In × Out·K·K), gathered into the
// output by backend.Col2Im with the geometry of that convolution (from the
// output to the input); the backward pass is backend.Im2Col of the output
// gradient times Wᵀ.
type ConvTranspose2D struct {
	In, Out, K, Stride, Pad, OutPad int
	// W is the weight; B the bias, whose Value is nil without one.
	W, B Param

	geom                          backend.ConvGeom // the convolution's, of the latest Forward
	xT, cols, out, dcols, dxT, dx *tensor.Tensor
	list                          []Param
	noBias                        bool
}

// NewConvTranspose2D returns a transposed convolution from in to out
// channels, initialised as PyTorch's (kaiming_uniform with a = √5 and
// PyTorch's fan-in of this weight, out·k·k): weight and bias uniform in
// ±1/√(out·k·k), drawn from rng.
func NewConvTranspose2D(b backend.Backend, in, out, k, stride, pad, outPad int, bias bool, rng *rand.Rand) (*ConvTranspose2D, error) {
	c := &ConvTranspose2D{In: in, Out: out, K: k, Stride: stride, Pad: pad, OutPad: outPad, noBias: !bias}
	if in <= 0 || out <= 0 || k <= 0 || stride <= 0 || pad < 0 {
		return nil, fmt.Errorf("nn: %v: channels, kernel size and stride must be positive, padding not negative", c)
	}
	if outPad < 0 || outPad >= stride {
		return nil, fmt.Errorf("nn: %v: output padding %d must be at least 0 and less than the stride %d", c, outPad, stride)
	}
	bound := 1 / math.Sqrt(float64(out*k*k))
	var err error
	if c.W, c.B, c.list, err = newWeights(b, rng, bound, bias, out, in, out, k, k); err != nil {
		return nil, fmt.Errorf("nn: %v: %w", c, err)
	}
	return c, nil
}

func (c *ConvTranspose2D) String() string { return "ConvTranspose2D(" + c.args(", ") + ")" }

// Spec returns the layer in the spec language: convtranspose(IN,OUT,K),
// followed by ,stride=S when S ≠ 1, ,pad=P when P ≠ 0, ,outpad=O when
// O ≠ 0 and ,bias=false without bias, in that order:
// convtranspose(32,16,3,stride=2,pad=1,outpad=1).
func (c *ConvTranspose2D) Spec() string { return "convtranspose(" + c.args(",") + ")" }

func (c *ConvTranspose2D) args(sep string) string {
	s := fmt.Sprintf("%d%s%d%s%d", c.In, sep, c.Out, sep, c.K)
	if c.Stride != 1 {
		s += fmt.Sprintf("%sstride=%d", sep, c.Stride)
	}
	if c.Pad != 0 {
		s += fmt.Sprintf("%spad=%d", sep, c.Pad)
	}
	if c.OutPad != 0 {
		s += fmt.Sprintf("%soutpad=%d", sep, c.OutPad)
	}
	if c.noBias {
		s += sep + "bias=false"
	}
	return s
}

// geometry returns the geometry of the convolution that this layer
// transposes, for n inputs of h×w: over the (Out×OH×OW) output, whose
// windows are the h×w input positions.
func (c *ConvTranspose2D) geometry(n, h, w int) (backend.ConvGeom, error) {
	oh := (h-1)*c.Stride - 2*c.Pad + c.K + c.OutPad
	ow := (w-1)*c.Stride - 2*c.Pad + c.K + c.OutPad
	g := backend.ConvGeom{N: n, C: c.Out, H: oh, W: ow, KH: c.K, KW: c.K, StrideH: c.Stride, StrideW: c.Stride, PadH: c.Pad, PadW: c.Pad}
	if oh <= 0 || ow <= 0 {
		return g, fmt.Errorf("the output would be %d×%d: the padding %d takes more than the input gives", oh, ow, c.Pad)
	}
	if err := g.Check(); err != nil {
		return g, err
	}
	if g.OutH() != h || g.OutW() != w {
		// Not reachable with OutPad < Stride; kept so that a field changed
		// after construction cannot run the kernels out of bounds.
		return g, fmt.Errorf("geometry %v does not map %d×%d back onto itself (OutPad %d, Stride %d)", g, h, w, c.OutPad, c.Stride)
	}
	return g, nil
}

// OutputShape is (Out×OH×OW) for an input of (In×H×W).
func (c *ConvTranspose2D) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if err := checkShape(c, in); err != nil {
		return nil, err
	}
	if len(in) != 3 || in[0] != c.In {
		return nil, fmt.Errorf("%v: input shape %v, want (%d×H×W), %d-channel images", c, in, c.In, c.In)
	}
	g, err := c.geometry(1, in[1], in[2])
	if err != nil {
		return nil, fmt.Errorf("%v: input shape %v: %w", c, in, err)
	}
	return tensor.Shape{c.Out, g.H, g.W}, nil
}

// Forward computes the transposed convolution of x (N×In×H×W).
func (c *ConvTranspose2D) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	s := x.Shape()
	if len(s) != 4 || s[1] != c.In {
		return nil, fmt.Errorf("%v: input shape %v, want (batch×%d×H×W)", c, s, c.In)
	}
	g, err := c.geometry(s[0], s[2], s[3])
	if err != nil {
		return nil, fmt.Errorf("%v: input shape %v: %w", c, s, err)
	}
	b, hw := x.Backend(), s[2]*s[3]
	if err := ensureAll(b, ensure{&c.xT, g.N * hw, c.In}, ensure{&c.cols, g.N * hw, c.Out * c.K * c.K}); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	if err := tensor.Ensure(&c.out, b, g.N, c.Out, g.H, g.W); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	c.geom = g
	b.TransposeBatch(g.N, c.In, hw, x.Buffer(), c.xT.Buffer())
	if err := tensor.Gemm(false, false, 1, c.xT, c.W.Value, 0, c.cols); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	b.Col2Im(g, c.cols.Buffer(), 0, c.out.Buffer())
	if c.B.Value != nil {
		b.AddChannels(g.N, c.Out, g.H*g.W, c.B.Value.Buffer(), c.out.Buffer())
	}
	return c.out, nil
}

// AccGradParameters adds xᵀ·Im2Col(dy) (x in NHWC order) to the weight
// gradient and dy's channel sums to the bias gradient. It leaves
// Im2Col(dy) in dcols for Backward.
func (c *ConvTranspose2D) AccGradParameters(x, gradOut *tensor.Tensor) error {
	if err := checkGradOut(c, c.out, gradOut); err != nil {
		return err
	}
	g, b := c.geom, x.Backend()
	if err := tensor.Ensure(&c.dcols, b, c.cols.Rows(), c.cols.Cols()); err != nil {
		return fmt.Errorf("%v: %w", c, err)
	}
	b.Im2Col(g, gradOut.Buffer(), c.dcols.Buffer())
	if c.B.Value != nil {
		b.SumChannels(g.N, c.Out, g.H*g.W, gradOut.Buffer(), 1, c.B.Grad.Buffer())
	}
	if err := tensor.Gemm(true, false, 1, c.xT, c.dcols, 1, c.W.Grad); err != nil {
		return fmt.Errorf("%v: %w", c, err)
	}
	return nil
}

// Backward accumulates the parameter gradients and returns the input
// gradient, Im2Col(dy)·Wᵀ back in NCHW order: a convolution of dy.
func (c *ConvTranspose2D) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if err := c.AccGradParameters(x, gradOut); err != nil {
		return nil, err
	}
	b, s := x.Backend(), x.Shape()
	if err := tensor.Ensure(&c.dxT, b, c.xT.Rows(), c.In); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	if err := tensor.Ensure(&c.dx, b, s...); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	if err := tensor.Gemm(false, true, 1, c.dcols, c.W.Value, 0, c.dxT); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	b.TransposeBatch(c.geom.N, s[2]*s[3], c.In, c.dxT.Buffer(), c.dx.Buffer())
	return c.dx, nil
}

// Params returns the weight and, if the layer has one, the bias.
func (c *ConvTranspose2D) Params() []Param { return c.list }
