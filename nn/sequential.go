package nn

import (
	"fmt"
	"strings"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// Sequential chains modules: the output of each is the input of the next.
// Build it with NewSequential; a Sequential written as a literal, or whose
// Modules grew after NewSequential, is brought up to date by its next
// Forward or Params call (the modules' parameters are listed again).
//
// On a backend that implements backend.FusedLinear, a Linear or
// TiedLinear followed by an Activation (tanh, sigmoid, relu, leakyrelu
// with a slope ≥ 0) runs as one fused step, forward and backward (see
// fused.go); the modules, their parameter names and their values are the
// same either way.
type Sequential struct {
	Modules []Module
	// Unfused runs every module on its own even where the backend could
	// fuse a Linear and its activation: for comparisons and debugging.
	Unfused bool
	inputs  []*tensor.Tensor // inputs[i] is the input of Modules[i] in the latest Forward
	fused   []bool           // fused[i]: the latest Forward ran Modules[i] and [i+1] as one step
	params  []Param
	buffers []Param
	listed  int // how many modules params and inputs were built for
}

// NewSequential chains the given modules.
func NewSequential(modules ...Module) *Sequential {
	s := &Sequential{Modules: modules}
	s.sync()
	return s
}

// sync lists the parameters of every module and sizes inputs, when Modules
// has changed length since it last did (or never did): never in a steady
// state, so it allocates nothing there.
func (s *Sequential) sync() {
	if s.listed == len(s.Modules) && len(s.inputs) == len(s.Modules) {
		return
	}
	s.inputs, s.params, s.buffers = make([]*tensor.Tensor, len(s.Modules)), nil, nil
	s.fused = make([]bool, len(s.Modules))
	for i, m := range s.Modules {
		for _, p := range m.Params() {
			p.Name = fmt.Sprintf("%d.%s", i, p.Name)
			s.params = append(s.params, p)
		}
		for _, p := range Buffers(m) {
			p.Name = fmt.Sprintf("%d.%s", i, p.Name)
			s.buffers = append(s.buffers, p)
		}
	}
	s.listed = len(s.Modules)
}

// Forward runs every module in order, a Linear and the activation after
// it as one step where the backend can fuse them.
func (s *Sequential) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	s.sync()
	var fb backend.FusedLinear
	if x != nil && !s.Unfused {
		fb, _ = x.Backend().(backend.FusedLinear)
	}
	for i := 0; i < len(s.Modules); i++ {
		s.inputs[i], s.fused[i] = x, false
		var err error
		if fb != nil && i+1 < len(s.Modules) {
			if l, a, ok := fusable(s.Modules[i], s.Modules[i+1]); ok {
				if x, err = l.forwardFused(fb, a, x); err != nil {
					return nil, fmt.Errorf("module %d: %w", i, err)
				}
				// Module i+1's input, the pre-activation, never exists.
				s.fused[i], s.inputs[i+1], s.fused[i+1] = true, nil, false
				i++
				continue
			}
		}
		if x, err = s.Modules[i].Forward(x); err != nil {
			return nil, fmt.Errorf("module %d: %w", i, err)
		}
	}
	return x, nil
}

// Backward runs the chain backwards: module i gets the input it saw in
// Forward and the gradient that module i+1 returned.
func (s *Sequential) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	return s.backward(x, gradOut, true)
}

// AccGradParameters is Backward without the gradient with respect to x, which
// saves the first module's input-gradient work.
func (s *Sequential) AccGradParameters(x, gradOut *tensor.Tensor) error {
	_, err := s.backward(x, gradOut, false)
	return err
}

func (s *Sequential) backward(x, g *tensor.Tensor, needInputGrad bool) (*tensor.Tensor, error) {
	if len(s.Modules) == 0 {
		return g, nil
	}
	if len(s.inputs) != len(s.Modules) || s.inputs[0] != x {
		return nil, fmt.Errorf("Sequential: Backward with an input other than the latest Forward's")
	}
	for i := len(s.Modules) - 1; i >= 0; i-- {
		var err error
		if i > 0 && s.fused[i-1] {
			// Modules i-1 and i ran fused: their backward is one step too.
			l, a, ok := fusable(s.Modules[i-1], s.Modules[i])
			fb, fok := x.Backend().(backend.FusedLinear)
			if !ok || !fok {
				return nil, fmt.Errorf("Sequential: modules %d and %d changed since the latest Forward", i-1, i)
			}
			if g, err = l.backwardFused(fb, a, s.inputs[i-1], g, needInputGrad || i > 1); err != nil {
				return nil, fmt.Errorf("module %d: %w", i, err)
			}
			i--
			continue
		}
		if acc, ok := s.Modules[i].(ParamGradAccumulator); ok && i == 0 && !needInputGrad {
			err = acc.AccGradParameters(s.inputs[0], g)
			g = nil
		} else {
			g, err = s.Modules[i].Backward(s.inputs[i], g)
		}
		if err != nil {
			return nil, fmt.Errorf("module %d: %w", i, err)
		}
	}
	return g, nil
}

// SetTraining switches every module to training or evaluation mode.
func (s *Sequential) SetTraining(training bool) {
	for _, m := range s.Modules {
		SetTraining(m, training)
	}
}

// Reseed reseeds module i with MixSeed(seed, i): one seed for the network,
// a different stream for each module that draws random numbers.
func (s *Sequential) Reseed(seed uint64) {
	for i, m := range s.Modules {
		Reseed(m, MixSeed(seed, uint64(i)))
	}
}

// OutputShape chains the modules' output shapes (per sample). The error
// names the first module that cannot take its input, by index and name.
func (s *Sequential) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	shape := append(tensor.Shape(nil), in...)
	for i, m := range s.Modules {
		out, err := OutputShape(m, shape)
		if err != nil {
			return nil, &moduleError{index: i, name: describe(m), err: err}
		}
		shape = out
	}
	return shape, nil
}

// moduleError is an error of module index of a Sequential:
// "module 2 (Linear(4, 3)): input shape …". The module's own error names
// the module already; Error says the name once, after the index.
type moduleError struct {
	index int
	name  string
	err   error
}

func (e *moduleError) Error() string {
	return fmt.Sprintf("module %d (%s): %s", e.index, e.name, strings.TrimPrefix(e.err.Error(), e.name+": "))
}

func (e *moduleError) Unwrap() error { return e.err }

// Params returns the parameters of every module, named "index.name".
func (s *Sequential) Params() []Param {
	s.sync()
	return s.params
}

// Buffers returns the buffers of every module, named "index.name" as
// PyTorch's state_dict names them ("1.running_mean").
func (s *Sequential) Buffers() []Param {
	s.sync()
	return s.buffers
}
