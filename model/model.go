package model

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

// Model is a network built from a spec.
type Model struct {
	Spec            string // canonical form
	Layers          []Layer
	Net             *nn.Sequential
	Inputs, Outputs int
}

// Encoder returns the first k layers of an autoencoder as a network of
// their own, sharing the model's modules and weights.
func (m *Model) Encoder(k int) (*nn.Sequential, error) {
	if k <= 0 || k >= len(m.Net.Modules) {
		return nil, fmt.Errorf("encoder of %d layers: %q has %d layers", k, m.Spec, len(m.Net.Modules))
	}
	return nn.NewSequential(m.Net.Modules[:k]...), nil
}

// Build parses spec and builds the network on b, drawing initial weights
// from rng.
func Build(b backend.Backend, spec string, rng *rand.Rand) (*Model, error) {
	layers, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	m := &Model{Spec: Format(layers), Layers: layers}
	mods := make([]nn.Module, len(layers))
	width := -1 // unknown until the first layer that fixes it
	for i, l := range layers {
		fail := func(format string, args ...any) error {
			return &SpecError{Spec: spec, Pos: l.Pos, Msg: fmt.Sprintf(format, args...)}
		}
		switch l.Kind {
		case "linear":
			in, out := int(l.Args[0]), int(l.Args[1])
			if width >= 0 && in != width {
				return nil, fail("linear(%d,%d) takes %d inputs but the layer before gives %d", in, out, in, width)
			}
			if width < 0 {
				m.Inputs = in
			}
			init := map[string]nn.Init{"default": nn.InitDefault, "xavier": nn.InitXavier, "kaiming": nn.InitKaiming}[l.Init]
			if mods[i], err = nn.NewLinear(b, in, out, init, rng); err != nil {
				return nil, err
			}
			width = out
		case "tied":
			k := int(l.Args[0])
			if k >= i || layers[k].Kind != "linear" {
				return nil, fail("tied(%d) must name an earlier linear layer (positions count from 0)", k)
			}
			enc := mods[k].(*nn.Linear)
			if width >= 0 && enc.Out != width {
				return nil, fail("tied(%d) takes %d inputs (the outputs of %v) but the layer before gives %d", k, enc.Out, layers[k], width)
			}
			if mods[i], err = nn.NewTiedLinear(enc, rng); err != nil {
				return nil, err
			}
			width = enc.In
		case "tanh":
			mods[i] = nn.Tanh()
		case "sigmoid":
			mods[i] = nn.Sigmoid()
		case "relu":
			mods[i] = nn.ReLU()
		case "leakyrelu":
			mods[i] = nn.LeakyReLU(float32(l.Args[0]))
		case "softmax":
			mods[i] = nn.NewSoftmax()
		case "logsoftmax":
			mods[i] = nn.NewLogSoftmax()
		}
	}
	if width < 0 {
		return nil, &SpecError{Spec: spec, Pos: 0, Msg: "no linear layer: the input size is unknown"}
	}
	m.Outputs = width
	m.Net = nn.NewSequential(mods...)
	return m, nil
}

// Metadata keys of a saved model.
const (
	MetaFormat  = "format" // "diynn/1"
	MetaSpec    = "spec"
	MetaTask    = "task"    // "classify" or "reconstruct"
	MetaEncoder = "encoder" // autoencoders: the number of encoder layers
)

// Tensors returns the model's parameters as safetensors tensors, named as
// PyTorch names an nn.Sequential's state_dict ("0.weight", "0.bias", …).
func (m *Model) Tensors() ([]safetensors.Tensor, error) {
	var ts []safetensors.Tensor
	for _, p := range m.Net.Params() {
		v, err := p.Value.Data()
		if err != nil {
			return nil, err
		}
		ts = append(ts, safetensors.Tensor{Name: p.Name, Shape: append([]int(nil), p.Value.Shape()...), Data: v})
	}
	return ts, nil
}

// Save writes the model, with extra metadata, atomically to path.
func (m *Model) Save(path string, meta map[string]string, extra ...safetensors.Tensor) error {
	ts, err := m.Tensors()
	if err != nil {
		return err
	}
	md := map[string]string{MetaFormat: "diynn/1", MetaSpec: m.Spec}
	for k, v := range meta {
		md[k] = v
	}
	return safetensors.WriteFile(path, &safetensors.File{Tensors: append(ts, extra...), Metadata: md})
}

// Load reads a model saved by Save and rebuilds it on b.
func Load(b backend.Backend, path string) (*Model, *safetensors.File, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	spec, ok := f.Metadata[MetaSpec]
	if !ok {
		return nil, nil, fmt.Errorf("%s: no %q in the safetensors metadata: not a diynn model", path, MetaSpec)
	}
	m, err := Build(b, spec, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := m.SetParams(f); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, f, nil
}

// SetParams copies every parameter's value from f, checking shapes.
func (m *Model) SetParams(f *safetensors.File) error {
	for _, p := range m.Net.Params() {
		t, ok := f.Get(p.Name)
		if !ok {
			return fmt.Errorf("tensor %q of %s is missing", p.Name, m.Spec)
		}
		if !slices.Equal(t.Shape, []int(p.Value.Shape())) {
			return fmt.Errorf("tensor %q has shape %v, the model needs %v", p.Name, tensor.Shape(t.Shape), p.Value.Shape())
		}
		if err := p.Value.Set(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// Atoi is strconv.Atoi for metadata values, with a useful message.
func Atoi(meta map[string]string, key string) (int, error) {
	v, err := strconv.Atoi(meta[key])
	if err != nil {
		return 0, fmt.Errorf("metadata %q = %q is not an integer", key, meta[key])
	}
	return v, nil
}
