package model

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

// A Model is an nn.Module: it runs its network, so train.Fit and
// train.Predict take a preset, a spec's model or a user's own module alike.
// It passes modes, seeds and shapes on to the network as well.
var (
	_ nn.Module               = (*Model)(nil)
	_ nn.ParamGradAccumulator = (*Model)(nil)
	_ nn.TrainingMode         = (*Model)(nil)
	_ nn.Reseeder             = (*Model)(nil)
	_ nn.Shaper               = (*Model)(nil)
	_ nn.BufferHolder         = (*Model)(nil)
)

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

// Buffers lists the network's buffers, such as batch norm's running
// statistics, named as in the model's file (nn.BufferHolder).
func (m *Model) Buffers() []nn.Param { return m.Net.Buffers() }

// SetTraining switches every module of the network to training or
// evaluation mode (nn.TrainingMode).
func (m *Model) SetTraining(training bool) { nn.SetTraining(m.Net, training) }

// Reseed restarts the random streams of the network's modules
// (nn.Reseeder).
func (m *Model) Reseed(seed uint64) { nn.Reseed(m.Net, seed) }

// OutputShape is the network's per-sample output shape for input shape in
// (nn.Shaper).
func (m *Model) OutputShape(in tensor.Shape) (tensor.Shape, error) { return nn.OutputShape(m.Net, in) }

// Specer is a module that writes itself in the spec language, as a
// registered layer's syntax: nn.Linear's Spec gives "linear(784,176)".
type Specer interface {
	Spec() string
}

// SpecerIn is a module whose spec depends on the modules before it in its
// Sequential: nn.TiedLinear gives "tied(K)", K being its encoder's index.
// In a head of an nn.Concat it is given the modules before the Concat in
// the Sequential that holds it, as tied(K) in a head counts them.
type SpecerIn interface {
	SpecIn(earlier []nn.Module) (string, error)
}

// SpecOf returns the canonical spec of net: a Model's own, or the one
// derived from the modules of an nn.Sequential, each of which must write
// itself (Specer or SpecerIn) as a layer that RegisterLayer made known, so
// that Load can rebuild it. An nn.Concat is written concat[A | B], each
// head (an nn.Sequential, or a single module) as a spec of its own; a
// SpecerIn in a head is given the modules before the Concat in the
// Sequential that holds it, as tied(K) in a head names layer K of the
// enclosing spec.
func SpecOf(net nn.Module) (string, error) {
	switch n := net.(type) {
	case *Model:
		return n.Spec, nil
	case *nn.Sequential:
		if len(n.Modules) == 0 {
			return "", errors.New("model: an empty Sequential has no spec")
		}
		s, err := seqSpec(n.Modules, nil)
		if err != nil {
			return "", fmt.Errorf("model: %w", err)
		}
		return s, nil
	}
	return "", fmt.Errorf("model: %T has no spec: SpecOf takes a *model.Model or an *nn.Sequential (wrap a single module in nn.NewSequential)", net)
}

// seqSpec writes the modules of a Sequential as a spec. outer, for the
// modules of a head, are the modules before the Concat in the Sequential
// that holds it, which a SpecerIn's spec refers to (tied(K)); nil at the
// top level, where it is given the modules before it.
func seqSpec(mods []nn.Module, outer []nn.Module) (string, error) {
	parts := make([]string, len(mods))
	for i, mod := range mods {
		tiedTo := mods[:i]
		if outer != nil {
			tiedTo = outer
		}
		s, err := moduleSpec(mods[:i], tiedTo, mod)
		if err != nil {
			return "", fmt.Errorf("module %d (%v) of the Sequential: %w", i, describe(mod), err)
		}
		parts[i] = s
	}
	return strings.Join(parts, " "), nil
}

// moduleSpec writes one module of a Sequential as a single, canonical
// layer. earlier are the modules before it in its Sequential, tiedTo those
// a SpecerIn refers to: earlier, or in a head the enclosing ones.
func moduleSpec(earlier, tiedTo []nn.Module, mod nn.Module) (string, error) {
	var s string
	switch m := mod.(type) {
	case *nn.Sequential:
		return "", errors.New("a Sequential inside a Sequential has no spec: chain its modules into the outer one")
	case *nn.Concat:
		if len(m.Heads) < 2 {
			return "", fmt.Errorf("a Concat of %d head%s has no spec: concat takes 2 heads or more", len(m.Heads), plural(len(m.Heads)))
		}
		heads := make([]string, len(m.Heads))
		for h, head := range m.Heads {
			var err error
			if seq, ok := head.(*nn.Sequential); ok {
				if len(seq.Modules) == 0 {
					return "", fmt.Errorf("head %d is an empty Sequential, which has no spec", h)
				}
				heads[h], err = seqSpec(seq.Modules, earlier)
			} else {
				// A head of one module: nothing before it in the head.
				heads[h], err = moduleSpec([]nn.Module{}, earlier, head)
			}
			if err != nil {
				return "", fmt.Errorf("head %d: %w", h, err)
			}
		}
		s = "concat[" + strings.Join(heads, " | ") + "]"
	case SpecerIn:
		var err error
		if s, err = m.SpecIn(tiedTo); err != nil {
			return "", err
		}
	case Specer:
		s = m.Spec()
	default:
		return "", fmt.Errorf("%T has no spec: give it a method Spec() string that writes it as a layer, and register that layer with model.RegisterLayer so that specs and Load can rebuild it", mod)
	}
	layers, err := Parse(s)
	if err != nil {
		return "", fmt.Errorf("its spec %q: %w", s, err)
	}
	if len(layers) != 1 {
		return "", fmt.Errorf("its spec %q is %d layers, not one", s, len(layers))
	}
	return layers[0].String(), nil
}

// checkHeads refuses a Concat, among mods or in their heads, with a head
// that is not an nn.Sequential and has parameters or buffers: a spec's
// head is a Sequential, whose names ("1.0.weight") its would not be
// ("1.weight"), so Load could not restore them.
func checkHeads(mods []nn.Module, where string) error {
	for i, mod := range mods {
		c, ok := mod.(*nn.Concat)
		if !ok {
			continue
		}
		for h, head := range c.Heads {
			at := fmt.Sprintf("%smodule %d (%v), head %d", where, i, describe(mod), h)
			if seq, ok := head.(*nn.Sequential); ok {
				if err := checkHeads(seq.Modules, at+": "); err != nil {
					return err
				}
				continue
			}
			if ps := slices.Concat(head.Params(), nn.Buffers(head)); len(ps) > 0 {
				return fmt.Errorf("model: %s, %v, is not an nn.Sequential: the Concat names its %q %d.%s, where a spec's head, a Sequential, names it %d.0.%s; wrap it in nn.NewSequential",
					at, describe(head), ps[0].Name, h, ps[0].Name, h, ps[0].Name)
			}
		}
	}
	return nil
}

// describe names a module for messages: its String, else its Go type.
func describe(m nn.Module) string {
	if s, ok := m.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", m)
}

// New wraps a network built in Go as a Model, so that it saves and loads
// like a spec's: it derives the spec from the modules (SpecOf), plans it
// (NewPlan, which infers the input shape), and checks that the plan's
// parameters — names and shapes, in order — are the network's, and that
// the network's modules give the planned shapes, so that Load rebuilds the
// same network.
func New(net *nn.Sequential) (*Model, error) { return newModel(net, nil) }

// NewFor is New for a network whose input shape its first layers do not
// imply (a convolution first): samples of shape in.
func NewFor(net *nn.Sequential, in tensor.Shape) (*Model, error) {
	if in == nil {
		return nil, errors.New("model.NewFor: no input shape")
	}
	return newModel(net, in)
}

func newModel(net *nn.Sequential, in tensor.Shape) (*Model, error) {
	if net == nil {
		return nil, errors.New("model.New: nil network")
	}
	spec, err := SpecOf(net)
	if err != nil {
		return nil, err
	}
	if err := checkHeads(net.Modules, ""); err != nil {
		return nil, err
	}
	var p *Plan
	if in == nil {
		p, err = NewPlan(spec)
	} else {
		p, err = NewPlanFor(spec, in)
	}
	if err != nil {
		return nil, fmt.Errorf("model: the network's spec does not plan: %w", err)
	}
	have := net.Params()
	for i, ps := range p.Params {
		if i >= len(have) {
			return nil, fmt.Errorf("model: the network has %d parameters, its spec %q plans %d: %s is missing", len(have), p.Spec, len(p.Params), ps.Name)
		}
		if have[i].Name != ps.Name || !slices.Equal([]int(have[i].Value.Shape()), ps.Shape) {
			return nil, fmt.Errorf("model: the network's parameter %d is %s %v, but its spec %q plans %s %v: a module's Spec does not describe it",
				i, have[i].Name, have[i].Value.Shape(), p.Spec, ps.Name, tensor.Shape(ps.Shape))
		}
	}
	if len(have) > len(p.Params) {
		return nil, fmt.Errorf("model: the network has %d parameters, its spec %q plans %d: %s is not in the spec", len(have), p.Spec, len(p.Params), have[len(p.Params)].Name)
	}
	shape := p.InputShape()
	for i, mod := range net.Modules {
		s, ok := mod.(nn.Shaper)
		if !ok {
			continue // its registered layer's Plan speaks for it
		}
		out, err := s.OutputShape(shape)
		if err != nil {
			return nil, fmt.Errorf("model: module %d (%v) refuses the planned input shape %v: %w", i, describe(mod), shape, err)
		}
		if !slices.Equal(out, p.Shapes[i+1]) {
			return nil, fmt.Errorf("model: module %d (%v) gives shape %v, its layer %v plans %v", i, describe(mod), out, p.Layers[i], p.Shapes[i+1])
		}
		shape = out
	}
	bufs := net.Buffers()
	if !slices.EqualFunc(bufs, p.Buffers, func(a nn.Param, b ParamShape) bool {
		return a.Name == b.Name && fileShapeFits(b.Shape, a.Value.Shape())
	}) {
		return nil, fmt.Errorf("model: the network has buffers %s, but its spec %q plans %s: a module's Spec does not describe it",
			paramList(bufs), p.Spec, planList(p.Buffers))
	}
	return &Model{Spec: p.Spec, Layers: p.Layers, Net: net, Inputs: p.Inputs(), Outputs: p.Outputs(),
		InShape: p.InputShape(), OutShape: p.OutputShape(), buffers: p.Buffers}, nil
}

// SaveModule writes net, with extra metadata and tensors, atomically to
// path: a Model as Model.Save does, an nn.Sequential wrapped by New first.
func SaveModule(path string, net nn.Module, meta map[string]string, extra ...safetensors.Tensor) error {
	m, ok := net.(*Model)
	if !ok {
		seq, isSeq := net.(*nn.Sequential)
		if !isSeq {
			_, err := SpecOf(net)
			return fmt.Errorf("not saving to %s: %w", path, err)
		}
		var err error
		if m, err = New(seq); err != nil {
			return fmt.Errorf("not saving to %s: %w", path, err)
		}
	}
	return m.Save(path, meta, extra...)
}

// LoadParams copies every parameter and buffer (nn.Buffers) of net from
// the tensor of its name in f, checking shapes; tensors f holds beyond them
// (a checkpoint's optimizer state) are left alone. It checks every tensor
// before it changes one.
func LoadParams(net nn.Module, f *safetensors.File) error {
	params := append(slices.Clone(net.Params()), nn.Buffers(net)...)
	ts := make([]safetensors.Tensor, len(params))
	for i, p := range params {
		t, ok := f.Get(p.Name)
		if !ok {
			return fmt.Errorf("tensor %q of %s is missing", p.Name, nameOf(net))
		}
		if !slices.Equal(t.Shape, []int(p.Value.Shape())) && !(p.Grad == nil && fileShapeFits(t.Shape, p.Value.Shape())) {
			return fmt.Errorf("tensor %q has shape %v, the model needs %v", p.Name, tensor.Shape(t.Shape), p.Value.Shape())
		}
		ts[i] = t
	}
	for i, p := range params {
		if err := p.Value.Set(ts[i].Data); err != nil {
			return fmt.Errorf("tensor %q: %w", p.Name, err)
		}
	}
	return nil
}

// nameOf names a network for messages: its spec when it has one.
func nameOf(net nn.Module) string {
	if s, err := SpecOf(net); err == nil {
		return s
	}
	return describe(net)
}
