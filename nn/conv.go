package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// Conv2D is a 2-D convolution (cross-correlation, as in PyTorch) of a batch
// of (In×H×W) images with Out filters of In×K×K weights, moving Stride
// values at a time over the input padded with Pad zeros on every side:
//
//	y[n, o, i, j] = b[o] + Σ_c Σ_kh Σ_kw W[o, c, kh, kw] · x[n, c, i·S − P + kh, j·S − P + kw]
//
// W is stored (Out×In×K×K) and the bias (Out), as PyTorch's nn.Conv2d, so
// weights move between the two unchanged. The output is (batch×Out×OH×OW)
// with OH = (H + 2·Pad − K)/Stride + 1, rounded down, and OW likewise.
//
// The convolution runs as one matrix product over the whole batch
// (im2col): backend.Im2Col lays every window out as a row of cols,
// (N·OH·OW) × (In·K·K), and cols·Wᵀ is the output in NHWC order, which
// backend.TransposeBatch turns into NCHW. The backward pass is the same
// products transposed, and backend.Col2Im, Im2Col's adjoint, gathers the
// input gradient. cols is kept from Forward for the weight gradient.
type Conv2D struct {
	In, Out, K, Stride, Pad int
	// W is the weight; B the bias, whose Value is nil without one.
	W, B Param

	geom                            backend.ConvGeom // of the latest Forward
	cols, nhwc, out, dyT, dcols, dx *tensor.Tensor
	list                            []Param
	noBias                          bool
}

// NewConv2D returns a convolution from in to out channels with k×k
// filters, initialised as PyTorch's nn.Conv2d (kaiming_uniform with
// a = √5): weight and bias uniform in ±1/√(in·k·k), drawn from rng. Without
// bias, Params lists the weight alone.
func NewConv2D(b backend.Backend, in, out, k, stride, pad int, bias bool, rng *rand.Rand) (*Conv2D, error) {
	c := &Conv2D{In: in, Out: out, K: k, Stride: stride, Pad: pad, noBias: !bias}
	if in <= 0 || out <= 0 || k <= 0 || stride <= 0 || pad < 0 {
		return nil, fmt.Errorf("nn: %v: channels, kernel size and stride must be positive, padding not negative", c)
	}
	bound := 1 / math.Sqrt(float64(in*k*k))
	var err error
	if c.W, c.B, c.list, err = newWeights(b, rng, bound, bias, out, out, in, k, k); err != nil {
		return nil, fmt.Errorf("nn: %v: %w", c, err)
	}
	return c, nil
}

// newWeights returns a layer's weight of shape wshape and, with bias, a
// bias of out values, both uniform in ±bound (PyTorch's default for
// convolutions), and the list Params returns.
func newWeights(b backend.Backend, rng *rand.Rand, bound float64, bias bool, out int, wshape ...int) (w, bb Param, list []Param, err error) {
	if w, err = newParam(b, rng, "weight", bound, wshape...); err != nil {
		return w, bb, nil, err
	}
	list = []Param{w}
	if bias {
		if bb, err = newParam(b, rng, "bias", bound, out); err != nil {
			return w, bb, nil, err
		}
		list = append(list, bb)
	}
	return w, bb, list, nil
}

// newParam returns a parameter of the given shape, uniform in ±bound, with
// a zero gradient.
func newParam(b backend.Backend, rng *rand.Rand, name string, bound float64, shape ...int) (Param, error) {
	v, err := tensor.Uniform(b, rng, -bound, bound, shape...)
	if err != nil {
		return Param{}, err
	}
	g, err := tensor.Zeros(b, shape...)
	if err != nil {
		v.Free()
		return Param{}, err
	}
	return Param{Name: name, Value: v, Grad: g}, nil
}

func (c *Conv2D) String() string {
	return "Conv2D(" + c.args(", ") + ")"
}

// args writes the layer's arguments in specs' order, the defaults left out.
func (c *Conv2D) args(sep string) string {
	s := fmt.Sprintf("%d%s%d%s%d", c.In, sep, c.Out, sep, c.K)
	if c.Stride != 1 {
		s += fmt.Sprintf("%sstride=%d", sep, c.Stride)
	}
	if c.Pad != 0 {
		s += fmt.Sprintf("%spad=%d", sep, c.Pad)
	}
	if c.noBias {
		s += sep + "bias=false"
	}
	return s
}

// Spec returns the layer in the spec language: conv(IN,OUT,K), followed by
// ,stride=S when S ≠ 1, ,pad=P when P ≠ 0 and ,bias=false without bias,
// in that order: conv(1,32,3,pad=1).
func (c *Conv2D) Spec() string { return "conv(" + c.args(",") + ")" }

// geometry is the convolution's geometry for a batch of n images of h×w.
func (c *Conv2D) geometry(n, h, w int) backend.ConvGeom {
	return backend.ConvGeom{N: n, C: c.In, H: h, W: w, KH: c.K, KW: c.K, StrideH: c.Stride, StrideW: c.Stride, PadH: c.Pad, PadW: c.Pad}
}

// OutputShape is (Out×OH×OW) for an input of (In×H×W).
func (c *Conv2D) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	g, err := imageGeom(c, in, c.In, c.geometry)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{c.Out, g.OutH(), g.OutW()}, nil
}

// imageGeom checks a per-sample shape (C×H×W) with C = channels (any C when
// channels is 0) and returns the geometry of one sample.
func imageGeom(module fmt.Stringer, in tensor.Shape, channels int, geometry func(n, h, w int) backend.ConvGeom) (backend.ConvGeom, error) {
	if err := checkShape(module, in); err != nil {
		return backend.ConvGeom{}, err
	}
	if len(in) != 3 || (channels > 0 && in[0] != channels) {
		return backend.ConvGeom{}, fmt.Errorf("%v: input shape %v, want %s images (C×H×W)", module, in, channelWord(channels))
	}
	g := geometry(1, in[1], in[2])
	g.C = in[0]
	if err := g.Check(); err != nil {
		return backend.ConvGeom{}, fmt.Errorf("%v: input shape %v: %w", module, in, err)
	}
	return g, nil
}

func channelWord(channels int) string {
	if channels == 0 {
		return "a shape of"
	}
	return fmt.Sprintf("(%d×H×W), %d-channel", channels, channels)
}

// batchGeom checks a batch of images x (N×C×H×W), C = channels unless
// channels is 0, and returns its geometry.
func batchGeom(module fmt.Stringer, x *tensor.Tensor, channels int, check func(backend.ConvGeom) error, geometry func(n, h, w int) backend.ConvGeom) (backend.ConvGeom, error) {
	s := x.Shape()
	if len(s) != 4 || (channels > 0 && s[1] != channels) {
		want := "(batch×C×H×W)"
		if channels > 0 {
			want = fmt.Sprintf("(batch×%d×H×W)", channels)
		}
		return backend.ConvGeom{}, fmt.Errorf("%v: input shape %v, want %s", module, s, want)
	}
	g := geometry(s[0], s[2], s[3])
	g.C = s[1]
	if err := check(g); err != nil {
		return backend.ConvGeom{}, fmt.Errorf("%v: input shape %v: %w", module, s, err)
	}
	return g, nil
}

// Forward convolves the batch x (N×In×H×W).
func (c *Conv2D) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	g, err := batchGeom(c, x, c.In, backend.ConvGeom.Check, c.geometry)
	if err != nil {
		return nil, err
	}
	b, oh, ow := x.Backend(), g.OutH(), g.OutW()
	rows := g.N * oh * ow
	if err := ensureAll(b, ensure{&c.cols, rows, c.In * c.K * c.K}, ensure{&c.nhwc, rows, c.Out}); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	if err := tensor.Ensure(&c.out, b, g.N, c.Out, oh, ow); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	c.geom = g
	b.Im2Col(g, x.Buffer(), c.cols.Buffer())
	if err := tensor.Gemm(false, true, 1, c.cols, c.W.Value, 0, c.nhwc); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	if c.B.Value != nil {
		b.AddRowVector(rows, c.Out, c.B.Value.Buffer(), c.nhwc.Buffer())
	}
	b.TransposeBatch(g.N, oh*ow, c.Out, c.nhwc.Buffer(), c.out.Buffer())
	return c.out, nil
}

// ensure is one tensor.Ensure call of a 2-D shape, for ensureAll.
type ensure struct {
	t          **tensor.Tensor
	rows, cols int
}

// ensureAll sizes several matrices, stopping at the first error.
func ensureAll(b backend.Backend, es ...ensure) error {
	for _, e := range es {
		if err := tensor.Ensure(e.t, b, e.rows, e.cols); err != nil {
			return err
		}
	}
	return nil
}

// AccGradParameters adds dyᵀ·cols to the weight gradient (dy in NHWC
// order) and dy's channel sums to the bias gradient.
func (c *Conv2D) AccGradParameters(x, gradOut *tensor.Tensor) error {
	if err := checkGradOut(c, c.out, gradOut); err != nil {
		return err
	}
	g := c.geom
	b, ohw := x.Backend(), g.OutH()*g.OutW()
	if err := tensor.Ensure(&c.dyT, b, g.N*ohw, c.Out); err != nil {
		return fmt.Errorf("%v: %w", c, err)
	}
	if c.B.Value != nil {
		// From dy itself, in NCHW: each channel's values lie in contiguous
		// planes, where the NHWC copy's are a column of a tall, thin matrix.
		b.SumChannels(g.N, c.Out, ohw, gradOut.Buffer(), 1, c.B.Grad.Buffer())
	}
	b.TransposeBatch(g.N, c.Out, ohw, gradOut.Buffer(), c.dyT.Buffer())
	if err := tensor.Gemm(true, false, 1, c.dyT, c.cols, 1, c.W.Grad); err != nil {
		return fmt.Errorf("%v: %w", c, err)
	}
	return nil
}

// Backward accumulates the parameter gradients and returns the input
// gradient, Col2Im of dy·W.
func (c *Conv2D) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if err := c.AccGradParameters(x, gradOut); err != nil {
		return nil, err
	}
	b := x.Backend()
	if err := tensor.Ensure(&c.dcols, b, c.cols.Rows(), c.cols.Cols()); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	if err := tensor.Ensure(&c.dx, b, x.Shape()...); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	if err := tensor.Gemm(false, false, 1, c.dyT, c.W.Value, 0, c.dcols); err != nil {
		return nil, fmt.Errorf("%v: %w", c, err)
	}
	b.Col2Im(c.geom, c.dcols.Buffer(), 0, c.dx.Buffer())
	return c.dx, nil
}

// Params returns the weight and, if the layer has one, the bias.
func (c *Conv2D) Params() []Param { return c.list }
