package model

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

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
// from rng: NewPlan, then Plan.Build.
func Build(b backend.Backend, spec string, rng *rand.Rand) (*Model, error) {
	p, err := NewPlan(spec)
	if err != nil {
		return nil, err
	}
	return p.Build(b, rng)
}

// Metadata keys of a saved model.
const (
	MetaFormat  = "format" // FileFormat
	MetaSpec    = "spec"
	MetaTask    = "task"    // "classify" or "reconstruct"
	MetaEncoder = "encoder" // autoencoders: the number of encoder layers
)

// FileFormat is the MetaFormat of the files Save writes, the only one
// PlanFile reads.
const FileFormat = "diynn/1"

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

// Save writes the model, with extra metadata, atomically to path. It
// refuses weights that are not finite: the file it would replace is better
// than a diverged model.
func (m *Model) Save(path string, meta map[string]string, extra ...safetensors.Tensor) error {
	ts, err := m.Tensors()
	if err != nil {
		return err
	}
	if err := CheckFinite(ts); err != nil {
		return fmt.Errorf("not saving %s to %s: %w", m.Spec, path, err)
	}
	md := map[string]string{}
	for k, v := range meta {
		md[k] = v
	}
	md[MetaFormat], md[MetaSpec] = FileFormat, m.Spec // what the file is, whatever meta says
	return safetensors.WriteFile(path, &safetensors.File{Tensors: append(ts, extra...), Metadata: md})
}

// Load reads a model saved by Save, from a file of at most
// safetensors.MaxFileBytes, and rebuilds it on b.
func Load(b backend.Backend, path string) (*Model, *safetensors.File, error) {
	return LoadLimit(b, path, safetensors.MaxFileBytes)
}

// LoadLimit is Load for a file of at most limit bytes. It checks that the
// file holds every tensor of its spec with the right shape before it
// builds the model, so what it allocates on b (every parameter and its
// gradient) is bounded by twice the file's size.
func LoadLimit(b backend.Backend, path string, limit int64) (*Model, *safetensors.File, error) {
	f, err := safetensors.ReadFileLimit(path, limit)
	if err != nil {
		return nil, nil, err
	}
	p, err := PlanFile(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := p.Build(b, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := m.SetParams(f); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, f, nil
}

// PlanFile returns the plan of the model a file saved by Save holds, after
// checking that its format, when its metadata gives one, is FileFormat (a
// file with none, from an older diynn or made by hand, is read as one), and
// that its tensors match the spec in its metadata.
func PlanFile(f *safetensors.File) (*Plan, error) {
	if format, ok := f.Metadata[MetaFormat]; ok && format != FileFormat {
		hint := "not written by diynn?"
		if v, ok := strings.CutPrefix(format, "diynn/"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 1 {
				hint = "written by a newer diynn?"
			}
		}
		return nil, fmt.Errorf("%s %q: this diynn reads %q (%s)", MetaFormat, format, FileFormat, hint)
	}
	spec, ok := f.Metadata[MetaSpec]
	if !ok {
		return nil, fmt.Errorf("no %q in the safetensors metadata: not a diynn model", MetaSpec)
	}
	p, err := NewPlan(spec)
	if err != nil {
		return nil, err
	}
	if err := p.CheckTensors(f); err != nil {
		return nil, err
	}
	return p, nil
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
