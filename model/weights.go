package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

// BuildFor is Build for samples of shape in, such as a data.Dataset's
// SampleShape, (1, 28, 28) for grey images: NewPlanFor, then Plan.Build.
// A spec that starts with a convolution needs it.
func BuildFor(b backend.Backend, spec string, in tensor.Shape, rng *rand.Rand) (*Model, error) {
	p, err := NewPlanFor(spec, in)
	if err != nil {
		return nil, err
	}
	return p.Build(b, rng)
}

// LoadWeights builds the network of spec on b for samples of shape in (nil
// for the shape the spec implies, as NewPlan) and sets its parameters and
// buffers from the safetensors file at path: the state_dict of the
// PyTorch nn.Sequential that the spec describes, saved with
// safetensors.torch.save_file or by hand ("0.weight", "1.running_mean",
// "1.num_batches_tracked" as int64, …), or a diynn model file, whose
// metadata it ignores. As load_state_dict(strict=True), it refuses a file
// that lacks one of the model's tensors, holds one of another shape, or
// holds one the model does not have, naming the tensor; and one whose
// values are not all finite.
//
// PyTorch's layers match diynn's one for one: nn.Conv2d is conv,
// nn.BatchNorm2d batchnorm2d, nn.MaxPool2d maxpool, nn.Flatten flatten,
// nn.Linear linear, nn.ReLU relu…, each at the same index of the
// Sequential, so that the names agree.
func LoadWeights(b backend.Backend, spec string, in tensor.Shape, path string) (*Model, error) {
	var p *Plan
	var err error
	if in == nil {
		p, err = NewPlan(spec)
	} else {
		p, err = NewPlanFor(spec, in)
	}
	if err != nil {
		return nil, err
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := p.BuildWeights(b, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// BuildWeights builds the plan's network on b with its parameters and
// buffers from f, checked as LoadWeights checks them (CheckStateDict, and
// finite values) before anything is allocated.
func (p *Plan) BuildWeights(b backend.Backend, f *safetensors.File) (*Model, error) {
	if err := p.CheckStateDict(f); err != nil {
		return nil, err
	}
	if err := CheckFinite(f.Tensors); err != nil {
		return nil, err
	}
	m, err := p.Build(b, rand.New(rand.NewPCG(0, 0))) // every value is then overwritten
	if err != nil {
		return nil, err
	}
	if err := m.SetParams(f); err != nil {
		return nil, err
	}
	return m, nil
}
