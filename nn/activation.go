package nn

import (
	"fmt"
	"strconv"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// Activation applies a pointwise nonlinearity. It has no parameters.
type Activation struct {
	F     backend.Activation
	Alpha float32 // LeakyReLU's slope for negative inputs
	out   *tensor.Tensor
	dx    *tensor.Tensor
}

// Tanh returns a hyperbolic-tangent module.
func Tanh() *Activation { return &Activation{F: backend.Tanh} }

// Sigmoid returns a logistic-sigmoid module.
func Sigmoid() *Activation { return &Activation{F: backend.Sigmoid} }

// ReLU returns a rectifier module.
func ReLU() *Activation { return &Activation{F: backend.ReLU} }

// LeakyReLU returns a rectifier whose slope below zero is alpha.
func LeakyReLU(alpha float32) *Activation { return &Activation{F: backend.LeakyReLU, Alpha: alpha} }

func (a *Activation) String() string {
	if a.F == backend.LeakyReLU {
		return fmt.Sprintf("leakyrelu(%g)", a.Alpha)
	}
	return a.F.String()
}

// Spec returns the layer in the spec language: tanh, sigmoid, relu, or
// leakyrelu(A) with A the shortest decimal that reads back as Alpha.
func (a *Activation) Spec() string {
	if a.F == backend.LeakyReLU {
		return "leakyrelu(" + strconv.FormatFloat(float64(a.Alpha), 'g', -1, 32) + ")"
	}
	return a.F.String()
}

// OutputShape is the input shape: activations work value by value.
func (a *Activation) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if err := checkShape(a, in); err != nil {
		return nil, err
	}
	return append(tensor.Shape(nil), in...), nil
}

// Forward computes f(x), keeping x's shape.
func (a *Activation) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	b := x.Backend()
	if err := tensor.Ensure(&a.out, b, x.Shape()...); err != nil {
		return nil, err
	}
	b.ActForward(a.F, a.Alpha, x.Len(), x.Buffer(), a.out.Buffer())
	return a.out, nil
}

// Backward returns f'(x)·gradOut.
func (a *Activation) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkGradOut(a, a.out, gradOut); err != nil {
		return nil, err
	}
	b := x.Backend()
	if err := tensor.Ensure(&a.dx, b, x.Shape()...); err != nil {
		return nil, err
	}
	b.ActBackward(a.F, a.Alpha, x.Len(), x.Buffer(), a.out.Buffer(), gradOut.Buffer(), a.dx.Buffer())
	return a.dx, nil
}

// Params returns nothing: activations have no parameters.
func (a *Activation) Params() []Param { return nil }
