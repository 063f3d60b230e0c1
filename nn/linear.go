package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// Init chooses how a Linear layer's parameters start.
type Init int

const (
	// InitDefault is PyTorch's nn.Linear default: weight and bias uniform in
	// ±1/√in (kaiming_uniform with a = √5).
	InitDefault Init = iota
	// InitXavier is Glorot's uniform init, ±√(6/(in+out)), bias zero: suits
	// tanh and sigmoid.
	InitXavier
	// InitKaiming is He's normal init, N(0, 2/in), bias zero: suits ReLU.
	InitKaiming
)

// String returns the init's name in specs: "default", "xavier", "kaiming".
func (i Init) String() string {
	switch i {
	case InitDefault:
		return "default"
	case InitXavier:
		return "xavier"
	case InitKaiming:
		return "kaiming"
	}
	return fmt.Sprintf("Init(%d)", int(i))
}

// Linear computes y = x·Wᵀ + b for x of shape (batch×In). W is stored
// (Out×In), as in PyTorch, so weights move between the two unchanged.
//
// An input of shape (batch×d1×…×dk) with d1·…·dk = In is read as the
// (batch×In) matrix over the same values, as torch7's Linear after a View:
// a (batch×1×28×28) image batch goes straight into a Linear(784, …). The
// output is (batch×Out), and the input gradient has x's own shape.
type Linear struct {
	In, Out int
	// Init is how the parameters were initialised; Spec writes it, so that
	// a saved model is rebuilt with the same init.
	Init    Init
	W, B    Param
	out, dx *tensor.Tensor
}

// NewLinear returns a layer from in to out features, initialised by init
// with values drawn from rng.
func NewLinear(b backend.Backend, in, out int, init Init, rng *rand.Rand) (*Linear, error) {
	if in <= 0 || out <= 0 {
		return nil, fmt.Errorf("nn: Linear(%d, %d): sizes must be positive", in, out)
	}
	var w, bias *tensor.Tensor
	var err error
	switch init {
	case InitDefault:
		bound := 1 / math.Sqrt(float64(in))
		if w, err = tensor.Uniform(b, rng, -bound, bound, out, in); err == nil {
			bias, err = tensor.Uniform(b, rng, -bound, bound, out)
		}
	case InitXavier:
		bound := math.Sqrt(6 / float64(in+out))
		if w, err = tensor.Uniform(b, rng, -bound, bound, out, in); err == nil {
			bias, err = tensor.Zeros(b, out)
		}
	case InitKaiming:
		if w, err = tensor.Normal(b, rng, 0, math.Sqrt(2/float64(in)), out, in); err == nil {
			bias, err = tensor.Zeros(b, out)
		}
	default:
		return nil, fmt.Errorf("nn: unknown Linear init %d", init)
	}
	if err != nil {
		return nil, err
	}
	gw, err := tensor.Zeros(b, out, in)
	if err != nil {
		return nil, err
	}
	gb, err := tensor.Zeros(b, out)
	if err != nil {
		return nil, err
	}
	return &Linear{In: in, Out: out, Init: init, W: Param{"weight", w, gw}, B: Param{"bias", bias, gb}}, nil
}

func (l *Linear) String() string { return fmt.Sprintf("Linear(%d, %d)", l.In, l.Out) }

// Spec returns the layer in the spec language: linear(IN,OUT), with the
// init appended unless it is the default, as in linear(784,176,xavier).
func (l *Linear) Spec() string {
	if l.Init == InitDefault {
		return fmt.Sprintf("linear(%d,%d)", l.In, l.Out)
	}
	return fmt.Sprintf("linear(%d,%d,%v)", l.In, l.Out, l.Init)
}

// OutputShape is (Out) for an input of In values per sample, whatever its
// shape.
func (l *Linear) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	return widthShape(l, in, l.In, l.Out)
}

// Forward computes x·Wᵀ + b, reading x as (batch×In).
func (l *Linear) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkInput(l, x, l.In); err != nil {
		return nil, err
	}
	b := x.Backend()
	if err := tensor.Ensure(&l.out, b, x.Rows(), l.Out); err != nil {
		return nil, err
	}
	if err := tensor.Gemm(false, true, 1, x, l.W.Value, 0, l.out); err != nil {
		return nil, err
	}
	b.AddRowVector(x.Rows(), l.Out, l.B.Value.Buffer(), l.out.Buffer())
	return l.out, nil
}

// AccGradParameters adds gradOutᵀ·x to the weight gradient and the column
// sums of gradOut to the bias gradient.
func (l *Linear) AccGradParameters(x, gradOut *tensor.Tensor) error {
	if err := checkGradOut(l, l.out, gradOut); err != nil {
		return err
	}
	if err := l.accWeightGrad(x, gradOut); err != nil {
		return err
	}
	x.Backend().SumRows(gradOut.Rows(), l.Out, gradOut.Buffer(), 1, l.B.Grad.Buffer())
	return nil
}

// accWeightGrad adds gradOutᵀ·x to the weight gradient.
func (l *Linear) accWeightGrad(x, gradOut *tensor.Tensor) error {
	return tensor.Gemm(true, false, 1, gradOut, x, 1, l.W.Grad)
}

// inputGrad returns gradOut·W, shaped as x.
func (l *Linear) inputGrad(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if err := tensor.Ensure(&l.dx, x.Backend(), x.Shape()...); err != nil {
		return nil, err
	}
	return l.dx, tensor.Gemm(false, false, 1, gradOut, l.W.Value, 0, l.dx)
}

// Backward accumulates parameter gradients and returns gradOut·W, shaped as
// x.
func (l *Linear) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if err := l.AccGradParameters(x, gradOut); err != nil {
		return nil, err
	}
	return l.inputGrad(x, gradOut)
}

// Params returns the weight and the bias.
func (l *Linear) Params() []Param { return []Param{l.W, l.B} }
