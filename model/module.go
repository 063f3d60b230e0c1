package model

import (
	"fmt"

	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

// A Model is an nn.Module: it runs its network, so train.Fit and
// train.Predict take a preset, a spec's model or a user's own module alike.

// Forward runs the network.
func (m *Model) Forward(x *tensor.Tensor) (*tensor.Tensor, error) { return m.Net.Forward(x) }

// Backward runs the network backwards.
func (m *Model) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	return m.Net.Backward(x, gradOut)
}

// AccGradParameters accumulates parameter gradients without the input's.
func (m *Model) AccGradParameters(x, gradOut *tensor.Tensor) error {
	return m.Net.AccGradParameters(x, gradOut)
}

// Params lists the network's parameters, named as in the model's file.
func (m *Model) Params() []nn.Param { return m.Net.Params() }

// SpecOf returns the spec of net: a Model's own, or the one derived from
// the modules of a Sequential.
// TODO(issue 13, model owner): derive specs from any Sequential.
func SpecOf(net nn.Module) (string, error) {
	if m, ok := net.(*Model); ok {
		return m.Spec, nil
	}
	return "", fmt.Errorf("model: cannot write %T as a spec", net)
}

// SaveModule writes net, whose spec SpecOf derives, with extra metadata and
// tensors, atomically to path.
// TODO(issue 13, model owner): any Sequential.
func SaveModule(path string, net nn.Module, meta map[string]string, extra ...safetensors.Tensor) error {
	if m, ok := net.(*Model); ok {
		return m.Save(path, meta, extra...)
	}
	_, err := SpecOf(net)
	return err
}

// LoadParams copies every parameter of net from f, checking names and
// shapes.
func LoadParams(net nn.Module, f *safetensors.File) error {
	if m, ok := net.(*Model); ok {
		return m.SetParams(f)
	}
	return fmt.Errorf("model: LoadParams on %T: TODO", net)
}
