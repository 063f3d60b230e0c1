// Package nn builds neural networks from modules that compute their own
// forward and backward passes, in the manner of torch7's nn.
//
// # The module contract
//
// The contract is torch7's Module:
//
//   - Forward(x) computes the output and keeps what Backward needs;
//   - Backward(x, gradOut) accumulates the gradients of the module's
//     parameters and returns the gradient with respect to its input x;
//   - Params exposes (value, gradient) pairs for an Optimizer; ZeroGrad
//     clears the gradients.
//
// Gradients accumulate: two Backward calls add two contributions, which is
// how a tied decoder adds its share to its encoder's weight gradient, and
// why a training step begins with ZeroGrad.
//
// Modules run on any backend: they speak only to package tensor and to the
// backend interface. Their output and gradient tensors are allocated on the
// first call for a batch size and reused afterwards, so a training step
// allocates no device memory in the steady state (a test says so). A
// returned tensor stays valid until the module's next call of the same
// method; a module may return its input itself (Dropout in evaluation
// mode does).
//
// # Shapes
//
// The first dimension of every tensor a module sees is the batch: x of
// shape (128×1×28×28) is 128 grey images of 28×28. The kernels see such a
// tensor as a matrix of x.Rows() samples by x.Cols() values per sample, so
// modules that mix features (Linear) accept any per-sample shape whose
// volume is their width, as torch7's Linear does after a View, and
// pointwise modules (activations, Dropout) keep the shape they are given.
// Flatten makes the matrix view explicit: (batch×C×H×W) to (batch×C·H·W).
//
// Shapes that a module reports about itself (the optional Shaper interface)
// are per sample: they leave out the batch dimension, because the batch size
// is chosen by whoever runs the network, not by its layers. This lets
// package model check that a spec's layers chain before allocating any of
// them.
//
// # Optional interfaces
//
// Besides Module, a module may implement:
//
//   - ParamGradAccumulator, to skip the input gradient nobody reads;
//   - TrainingMode, to behave differently while training (Dropout and
//     GaussianNoise are active only in training mode, the mode every module
//     starts in);
//   - Reseeder, to restart the random stream it draws from;
//   - Shaper, to say its output shape without running.
//
// Sequential implements all of them and passes them on to its modules; the
// functions SetTraining, Reseed and OutputShape call them on any module and
// do nothing (or say why not) when a module lacks one.
//
// # Random numbers
//
// Modules that need random numbers draw them on the device with
// backend.Random, a counter-based generator (Philox 4×32-10): value i of a
// stream is a function of a key and a counter alone, so every backend gives
// the same numbers whatever its parallelism, and no generator state lives on
// the device. A module's stream is its key plus an offset that each Forward
// in training mode advances past the values it used; Reseed(s) sets the key
// from the module's own seed mixed with s and rewinds the offset to zero.
// Sequential reseeds module i with MixSeed(s, i), so two Dropout layers of
// one network draw different masks. train.Fit reseeds before every step
// from its seed, the epoch and the step, which makes a resumed run draw
// exactly the masks it would have drawn; a gradient checker reseeds before
// every Forward so that every evaluation sees one mask.
package nn

import (
	"fmt"

	"github.com/diynn/diynn/tensor"
)

// Module is a layer or a network.
type Module interface {
	// Forward computes the output for a batch x (the first dimension is
	// the batch).
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

// checkInput verifies that x is a batch of samples of width want: a
// (batch×want) matrix, or (batch×d1×…×dk) with d1·…·dk = want, which the
// kernels read as the same matrix. The module is a fmt.Stringer so that its
// name is built only on error.
func checkInput(module fmt.Stringer, x *tensor.Tensor, want int) error {
	if len(x.Shape()) < 2 || x.Cols() != want {
		return fmt.Errorf("%v: input shape %v, want (batch×%d) or a per-sample shape of %d values", module, x.Shape(), want, want)
	}
	return nil
}

// volume is the number of values in a per-sample shape: 1 for a scalar ().
func volume(s tensor.Shape) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// checkShape checks a per-sample shape for Shaper implementations: every
// dimension positive.
func checkShape(module fmt.Stringer, in tensor.Shape) error {
	for _, d := range in {
		if d <= 0 {
			return fmt.Errorf("%v: input shape %v has a dimension that is not positive", module, in)
		}
	}
	return nil
}

// widthShape is the Shaper of a module that reads want values per sample
// and writes out: Linear and TiedLinear.
func widthShape(module fmt.Stringer, in tensor.Shape, want, out int) (tensor.Shape, error) {
	if err := checkShape(module, in); err != nil {
		return nil, err
	}
	if volume(in) != want {
		return nil, fmt.Errorf("%v: input shape %v has %d values per sample, want (%d)", module, in, volume(in), want)
	}
	return tensor.Shape{out}, nil
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
