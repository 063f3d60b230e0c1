package nn

import (
	"fmt"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// Pooling reduces each K×K window of every channel of a batch of images
// (N×C×H×W) to one value, the window moving Stride values at a time over
// the input padded with Pad values on every side; the output is
// (N×C×OH×OW) with OH = (H + 2·Pad − K)/Stride + 1, rounded down, as
// PyTorch's ceil_mode=False. The pad may be at most half the window
// (PyTorch's rule), so that every window holds an input value.

// MaxPool2D keeps the largest value of each window (padding counts as −∞),
// as PyTorch's nn.MaxPool2d. Forward records where each maximum was (the
// first in row-major order when several tie), and Backward sends each
// output gradient there.
type MaxPool2D struct {
	K, Stride, Pad int

	geom            backend.ConvGeom
	out, argmax, dx *tensor.Tensor
}

// NewMaxPool2D returns max pooling over k×k windows; stride 0 means k,
// PyTorch's default.
func NewMaxPool2D(k, stride, pad int) (*MaxPool2D, error) {
	k, stride, err := poolArgs("MaxPool2D", k, stride, pad)
	if err != nil {
		return nil, err
	}
	return &MaxPool2D{K: k, Stride: stride, Pad: pad}, nil
}

// poolArgs checks a pooling window and resolves stride 0 to k.
func poolArgs(name string, k, stride, pad int) (int, int, error) {
	if stride == 0 {
		stride = k
	}
	if k <= 0 || stride <= 0 || pad < 0 || 2*pad > k {
		return 0, 0, fmt.Errorf("nn: %s(%s): the window and stride must be positive and the padding at most half the window", name, poolArgString(", ", k, stride, pad))
	}
	return k, stride, nil
}

// poolArgString writes K, then stride=S when S ≠ K and pad=P when P ≠ 0.
func poolArgString(sep string, k, stride, pad int) string {
	s := fmt.Sprint(k)
	if stride != k {
		s += fmt.Sprintf("%sstride=%d", sep, stride)
	}
	if pad != 0 {
		s += fmt.Sprintf("%spad=%d", sep, pad)
	}
	return s
}

func poolGeom(k, stride, pad int) func(n, h, w int) backend.ConvGeom {
	return func(n, h, w int) backend.ConvGeom {
		return backend.ConvGeom{N: n, H: h, W: w, KH: k, KW: k, StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
	}
}

func (p *MaxPool2D) String() string {
	return "MaxPool2D(" + poolArgString(", ", p.K, p.Stride, p.Pad) + ")"
}

// Spec returns the layer in the spec language: maxpool(K), followed by
// ,stride=S when S ≠ K and ,pad=P when P ≠ 0: maxpool(3,stride=2,pad=1).
func (p *MaxPool2D) Spec() string { return "maxpool(" + poolArgString(",", p.K, p.Stride, p.Pad) + ")" }

// OutputShape is (C×OH×OW) for an input of (C×H×W).
func (p *MaxPool2D) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	return poolShape(p, in, p.K, p.Stride, p.Pad)
}

func poolShape(module fmt.Stringer, in tensor.Shape, k, stride, pad int) (tensor.Shape, error) {
	g, err := imageGeom(module, in, 0, poolGeom(k, stride, pad))
	if err != nil {
		return nil, err
	}
	if err := g.CheckPool(); err != nil {
		return nil, fmt.Errorf("%v: input shape %v: %w", module, in, err)
	}
	return tensor.Shape{g.C, g.OutH(), g.OutW()}, nil
}

// Forward pools the batch x (N×C×H×W).
func (p *MaxPool2D) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	g, err := batchGeom(p, x, 0, backend.ConvGeom.CheckPool, poolGeom(p.K, p.Stride, p.Pad))
	if err != nil {
		return nil, err
	}
	b := x.Backend()
	if err := tensor.Ensure(&p.out, b, g.N, g.C, g.OutH(), g.OutW()); err != nil {
		return nil, fmt.Errorf("%v: %w", p, err)
	}
	if err := tensor.Ensure(&p.argmax, b, g.N, g.C, g.OutH(), g.OutW()); err != nil {
		return nil, fmt.Errorf("%v: %w", p, err)
	}
	p.geom = g
	b.MaxPoolForward(g, x.Buffer(), p.out.Buffer(), p.argmax.Buffer())
	return p.out, nil
}

// Backward returns the input gradient: each output gradient added at its
// window's maximum.
func (p *MaxPool2D) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkGradOut(p, p.out, gradOut); err != nil {
		return nil, err
	}
	b := x.Backend()
	if err := tensor.Ensure(&p.dx, b, x.Shape()...); err != nil {
		return nil, fmt.Errorf("%v: %w", p, err)
	}
	b.MaxPoolBackward(p.geom, gradOut.Buffer(), p.argmax.Buffer(), p.dx.Buffer())
	return p.dx, nil
}

// Params returns nothing.
func (p *MaxPool2D) Params() []Param { return nil }

// AvgPool2D averages each window, as PyTorch's nn.AvgPool2d with its
// default count_include_pad=True: the padding counts as zeros, and every
// window's sum is divided by K·K.
type AvgPool2D struct {
	K, Stride, Pad int

	geom    backend.ConvGeom
	out, dx *tensor.Tensor
}

// NewAvgPool2D returns average pooling over k×k windows; stride 0 means k,
// PyTorch's default.
func NewAvgPool2D(k, stride, pad int) (*AvgPool2D, error) {
	k, stride, err := poolArgs("AvgPool2D", k, stride, pad)
	if err != nil {
		return nil, err
	}
	return &AvgPool2D{K: k, Stride: stride, Pad: pad}, nil
}

func (p *AvgPool2D) String() string {
	return "AvgPool2D(" + poolArgString(", ", p.K, p.Stride, p.Pad) + ")"
}

// Spec returns the layer in the spec language: avgpool(K), followed by
// ,stride=S when S ≠ K and ,pad=P when P ≠ 0.
func (p *AvgPool2D) Spec() string { return "avgpool(" + poolArgString(",", p.K, p.Stride, p.Pad) + ")" }

// OutputShape is (C×OH×OW) for an input of (C×H×W).
func (p *AvgPool2D) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	return poolShape(p, in, p.K, p.Stride, p.Pad)
}

// Forward pools the batch x (N×C×H×W).
func (p *AvgPool2D) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	g, err := batchGeom(p, x, 0, backend.ConvGeom.CheckPool, poolGeom(p.K, p.Stride, p.Pad))
	if err != nil {
		return nil, err
	}
	return avgForward(p, g, x, &p.out, &p.geom, g.N, g.C, g.OutH(), g.OutW())
}

// avgForward runs AvgPoolForward into *out, shaped as given.
func avgForward(module fmt.Stringer, g backend.ConvGeom, x *tensor.Tensor, out **tensor.Tensor, saved *backend.ConvGeom, shape ...int) (*tensor.Tensor, error) {
	b := x.Backend()
	if err := tensor.Ensure(out, b, shape...); err != nil {
		return nil, fmt.Errorf("%v: %w", module, err)
	}
	*saved = g
	b.AvgPoolForward(g, x.Buffer(), (*out).Buffer())
	return *out, nil
}

// avgBackward runs AvgPoolBackward into *dx, shaped as x.
func avgBackward(module fmt.Stringer, g backend.ConvGeom, x, out, gradOut *tensor.Tensor, dx **tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkGradOut(module, out, gradOut); err != nil {
		return nil, err
	}
	b := x.Backend()
	if err := tensor.Ensure(dx, b, x.Shape()...); err != nil {
		return nil, fmt.Errorf("%v: %w", module, err)
	}
	b.AvgPoolBackward(g, gradOut.Buffer(), (*dx).Buffer())
	return *dx, nil
}

// Backward returns the input gradient: each output gradient spread evenly
// over its window.
func (p *AvgPool2D) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	return avgBackward(p, p.geom, x, p.out, gradOut, &p.dx)
}

// Params returns nothing.
func (p *AvgPool2D) Params() []Param { return nil }

// GlobalAvgPool averages every channel over its whole plane: (N×C×H×W)
// becomes (N×C), PyTorch's nn.AdaptiveAvgPool2d(1) followed by a flatten,
// the head of most modern CNNs. It is average pooling with one H×W window.
type GlobalAvgPool struct {
	geom    backend.ConvGeom
	out, dx *tensor.Tensor
}

// NewGlobalAvgPool returns global average pooling.
func NewGlobalAvgPool() *GlobalAvgPool { return &GlobalAvgPool{} }

func (p *GlobalAvgPool) String() string { return "GlobalAvgPool" }

// Spec returns the layer in the spec language: globalavgpool.
func (p *GlobalAvgPool) Spec() string { return "globalavgpool" }

func wholePlane(n, h, w int) backend.ConvGeom {
	return backend.ConvGeom{N: n, H: h, W: w, KH: h, KW: w, StrideH: 1, StrideW: 1}
}

// OutputShape is (C) for an input of (C×H×W).
func (p *GlobalAvgPool) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	g, err := imageGeom(p, in, 0, wholePlane)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{g.C}, nil
}

// Forward averages the planes of x (N×C×H×W) into (N×C).
func (p *GlobalAvgPool) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	s := x.Shape()
	if len(s) != 4 {
		return nil, fmt.Errorf("%v: input shape %v, want (batch×C×H×W)", p, s)
	}
	g := wholePlane(s[0], s[2], s[3])
	g.C = s[1]
	if err := g.CheckPool(); err != nil {
		return nil, fmt.Errorf("%v: input shape %v: %w", p, s, err)
	}
	return avgForward(p, g, x, &p.out, &p.geom, g.N, g.C)
}

// Backward spreads each gradient evenly over its plane.
func (p *GlobalAvgPool) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	return avgBackward(p, p.geom, x, p.out, gradOut, &p.dx)
}

// Params returns nothing.
func (p *GlobalAvgPool) Params() []Param { return nil }
