package nn

import "github.com/diynn/diynn/tensor"

// TrainStep performs one step of training on a batch: zero the gradients,
// forward, loss, backward, update. It returns the loss as a one-value device
// tensor, so that a loop may read it only every few steps (reading
// synchronises with the device). It is Gradients followed by opt.Step; a
// loop that does something between the two (ClipGradNorm, gradient
// accumulation) calls them itself.
func TrainStep(m Module, loss Loss, opt Optimizer, x, target *tensor.Tensor) (*tensor.Tensor, error) {
	l, err := Gradients(m, loss, x, target)
	if err != nil {
		return nil, err
	}
	if err := opt.Step(m.Params()); err != nil {
		return nil, err
	}
	return l, x.Backend().Err()
}

// Gradients zeroes m's gradients, runs forward, the loss and backward on a
// batch, and returns the loss as a one-value device tensor; the gradients
// of m's parameters then hold the batch's. Nothing is read back.
func Gradients(m Module, loss Loss, x, target *tensor.Tensor) (*tensor.Tensor, error) {
	ZeroGrad(m.Params())
	out, err := m.Forward(x)
	if err != nil {
		return nil, err
	}
	l, err := loss.Forward(out, target)
	if err != nil {
		return nil, err
	}
	if acc, ok := m.(ParamGradAccumulator); ok {
		err = acc.AccGradParameters(x, loss.Backward())
	} else {
		_, err = m.Backward(x, loss.Backward())
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}
