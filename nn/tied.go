package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/diynn/diynn/tensor"
)

// TiedLinear is the decoder half of a tied autoencoder layer: it maps the
// encoder's Out features back to its In features with y = h·W + b, using the
// encoder's weight W (Out×In) transposed. It owns only its bias; the
// gradient of W accumulates into the encoder's, so the optimizer updates the
// shared matrix once with both contributions.
//
// Like Linear, it reads an input of shape (batch×d1×…×dk) with d1·…·dk =
// Enc.Out as (batch×Enc.Out), and its input gradient has the input's shape.
type TiedLinear struct {
	Enc     *Linear
	B       Param
	out, dx *tensor.Tensor
}

// NewTiedLinear returns the decoder tied to enc, with its bias drawn as
// PyTorch would for a Linear(enc.Out, enc.In).
func NewTiedLinear(enc *Linear, rng *rand.Rand) (*TiedLinear, error) {
	b := enc.W.Value.Backend()
	bound := 1 / math.Sqrt(float64(enc.Out))
	bias, err := tensor.Uniform(b, rng, -bound, bound, enc.In)
	if err != nil {
		return nil, err
	}
	gb, err := tensor.Zeros(b, enc.In)
	if err != nil {
		return nil, err
	}
	return &TiedLinear{Enc: enc, B: Param{"bias", bias, gb}}, nil
}

func (d *TiedLinear) String() string { return fmt.Sprintf("TiedLinear(%d, %d)", d.Enc.Out, d.Enc.In) }

// SpecIn returns the layer in the spec language, tied(K), where K is the
// index of its encoder among the modules before it. A TiedLinear alone
// cannot know K, so it has SpecIn instead of Spec.
func (d *TiedLinear) SpecIn(earlier []Module) (string, error) {
	for k, m := range earlier {
		if l, ok := m.(*Linear); ok && l == d.Enc {
			return fmt.Sprintf("tied(%d)", k), nil
		}
	}
	return "", fmt.Errorf("%v: its encoder %v is not among the %d modules before it", d, d.Enc, len(earlier))
}

// OutputShape is (Enc.In) for an input of Enc.Out values per sample.
func (d *TiedLinear) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	return widthShape(d, in, d.Enc.Out, d.Enc.In)
}

// Forward computes h·W + b.
func (d *TiedLinear) Forward(h *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkInput(d, h, d.Enc.Out); err != nil {
		return nil, err
	}
	b := h.Backend()
	if err := tensor.Ensure(&d.out, b, h.Rows(), d.Enc.In); err != nil {
		return nil, err
	}
	if err := tensor.Gemm(false, false, 1, h, d.Enc.W.Value, 0, d.out); err != nil {
		return nil, err
	}
	b.AddRowVector(h.Rows(), d.Enc.In, d.B.Value.Buffer(), d.out.Buffer())
	return d.out, nil
}

// AccGradParameters adds hᵀ·gradOut to the encoder's weight gradient and
// the column sums of gradOut to the bias gradient.
func (d *TiedLinear) AccGradParameters(h, gradOut *tensor.Tensor) error {
	if err := checkGradOut(d, d.out, gradOut); err != nil {
		return err
	}
	if err := tensor.Gemm(true, false, 1, h, gradOut, 1, d.Enc.W.Grad); err != nil {
		return err
	}
	h.Backend().SumRows(gradOut.Rows(), d.Enc.In, gradOut.Buffer(), 1, d.B.Grad.Buffer())
	return nil
}

// Backward accumulates gradients and returns gradOut·Wᵀ, shaped as h.
func (d *TiedLinear) Backward(h, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if err := d.AccGradParameters(h, gradOut); err != nil {
		return nil, err
	}
	if err := tensor.Ensure(&d.dx, h.Backend(), h.Shape()...); err != nil {
		return nil, err
	}
	return d.dx, tensor.Gemm(false, true, 1, gradOut, d.Enc.W.Value, 0, d.dx)
}

// Params returns only the bias: the weight belongs to the encoder.
func (d *TiedLinear) Params() []Param { return []Param{d.B} }
