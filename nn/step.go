package nn

import "github.com/diynn/diynn/tensor"

// TrainStep performs one step of training on a batch: zero the gradients,
// forward, loss, backward, update. It returns the loss as a one-value device
// tensor, so that a loop may read it only every few steps (reading
// synchronises with the device).
func TrainStep(m Module, loss Loss, opt Optimizer, x, target *tensor.Tensor) (*tensor.Tensor, error) {
	params := m.Params()
	ZeroGrad(params)
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
	if err := opt.Step(params); err != nil {
		return nil, err
	}
	return l, x.Backend().Err()
}
