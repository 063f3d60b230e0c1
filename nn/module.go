// Package nn builds neural networks from modules that compute their own
// forward and backward passes, in the manner of torch7's nn.
//
// The contract is torch7's Module:
//
//   - Forward(x) computes the output and keeps what Backward needs;
//   - Backward(x, gradOut) accumulates the gradients of the module's
//     parameters and returns the gradient with respect to its input x;
//   - Params exposes (value, gradient) pairs for an Optimizer; ZeroGrad
//     clears the gradients.
//
// Modules run on any backend: they speak only to package tensor and to the
// backend interface. Their output and gradient tensors are allocated on the
// first call for a batch size and reused afterwards, so a training step
// allocates no device memory in the steady state. A returned tensor stays
// valid until the module's next call of the same method.
package nn

import (
	"fmt"

	"github.com/diynn/diynn/tensor"
)

// Module is a layer or a network.
type Module interface {
	// Forward computes the output for a batch x (rows are samples).
	Forward(x *tensor.Tensor) (*tensor.Tensor, error)
	// Backward takes the input x of the latest Forward and the gradient of
	// the loss with respect to that Forward's output; it accumulates
	// parameter gradients and returns the gradient with respect to x.
	Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error)
	// Params lists the module's trainable parameters.
	Params() []Param
}

// ParamGradAccumulator is implemented by modules that can accumulate their
// parameter gradients without computing the input gradient (torch7's
// accGradParameters). Sequential uses it for its first module, whose input
// gradient nobody reads: for a first Linear layer that saves a GEMM.
type ParamGradAccumulator interface {
	AccGradParameters(x, gradOut *tensor.Tensor) error
}

// Param is a trainable tensor and the gradient accumulated for it.
type Param struct {
	Name        string
	Value, Grad *tensor.Tensor
}

// ZeroGrad sets the gradients of params to zero.
func ZeroGrad(params []Param) {
	for _, p := range params {
		p.Grad.Backend().Fill(p.Grad.Len(), 0, p.Grad.Buffer())
	}
}

// checkInput verifies that x is a batch of rows of width want. The module
// is a fmt.Stringer so that its name is built only on error.
func checkInput(module fmt.Stringer, x *tensor.Tensor, want int) error {
	if x.Cols() != want || len(x.Shape()) != 2 {
		return fmt.Errorf("%v: input shape %v, want (batch×%d)", module, x.Shape(), want)
	}
	return nil
}

// checkGradOut verifies that gradOut matches the forward output.
func checkGradOut(module fmt.Stringer, out, gradOut *tensor.Tensor) error {
	if out == nil {
		return fmt.Errorf("%v: Backward called before Forward", module)
	}
	if err := tensor.SameShape("Backward: output and gradient", out, gradOut); err != nil {
		return fmt.Errorf("%v: %w", module, err)
	}
	return nil
}
