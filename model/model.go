package model

import (
	"encoding/json"
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

// Model is a network with the spec that describes it: built from a spec
// (Build, Plan.Build, Load) or from an nn.Sequential written in Go (New).
type Model struct {
	Spec   string // canonical form
	Layers []Layer
	Net    *nn.Sequential
	// Inputs and Outputs are the number of values of one input and one
	// output sample; InShape and OutShape their shapes.
	Inputs, Outputs   int
	InShape, OutShape tensor.Shape
	// Classes names a classifier's outputs, in order; Save keeps them in
	// the file's metadata (MetaClasses) and Load restores them. Empty when
	// unknown. Save and Load refuse names that are not one an output,
	// except in the file of an autoencoder (MetaTask "reconstruct"), which
	// may name the classes of the data it was trained on, and of a joint
	// autoencoder ("joint"), whose class scores follow its reconstruction.
	Classes []string
	// buffers are the planned buffers, for the shape and dtype a file
	// stores each with.
	buffers []ParamShape
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
	MetaTask    = "task"    // "classify", "reconstruct" or "joint"
	MetaEncoder = "encoder" // autoencoders: the number of encoder layers
	// MetaClasses holds Model.Classes as a JSON array of strings. Files of
	// an earlier diynn hold the names joined by U+001F, which Load reads too.
	MetaClasses = "classes"
	// MetaInput holds the per-sample input shape as a JSON array ([1,28,28])
	// when the spec does not imply it; a file without it is planned by
	// NewPlan.
	MetaInput = "input"
)

// FileFormat is the MetaFormat of the files Save writes, the only one
// PlanFile reads.
const FileFormat = "diynn/1"

// Tensors returns the model's parameters, then its buffers (batch norm's
// running statistics), as safetensors tensors named as PyTorch names an
// nn.Sequential's state_dict ("0.weight", "0.bias", "1.running_mean", …),
// each buffer with the shape and dtype PyTorch gives it: a count such as
// num_batches_tracked is a 0-dimensional int64.
func (m *Model) Tensors() ([]safetensors.Tensor, error) {
	var ts []safetensors.Tensor
	for _, p := range m.Net.Params() {
		v, err := p.Value.Data()
		if err != nil {
			return nil, err
		}
		ts = append(ts, safetensors.Tensor{Name: p.Name, Shape: append([]int(nil), p.Value.Shape()...), Data: v})
	}
	planned := map[string]ParamShape{}
	for _, b := range m.buffers {
		planned[b.Name] = b
	}
	for _, p := range m.Net.Buffers() {
		v, err := p.Value.Data()
		if err != nil {
			return nil, err
		}
		t := safetensors.Tensor{Name: p.Name, Shape: append([]int(nil), p.Value.Shape()...), Data: v}
		if b, ok := planned[p.Name]; ok && fileShapeFits(b.Shape, p.Value.Shape()) {
			t.Shape, t.DType = slices.Clone(b.Shape), b.DType
		}
		ts = append(ts, t)
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
	delete(md, MetaInput)
	if len(m.InShape) > 0 {
		if p, err := NewPlan(m.Spec); err != nil || !slices.Equal(p.Shapes[0], m.InShape) {
			js, _ := json.Marshal([]int(m.InShape))
			md[MetaInput] = string(js)
		}
	}
	if len(m.Classes) > 0 {
		if err := checkClasses(m.Classes, md[MetaTask], m.Outputs); err != nil {
			return fmt.Errorf("not saving %s to %s: %w", m.Spec, path, err)
		}
		js, err := json.Marshal(m.Classes)
		if err != nil {
			return err
		}
		md[MetaClasses] = string(js)
	}
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
	if m.Classes, err = classesOf(f.Metadata); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkClasses(m.Classes, f.Metadata[MetaTask], m.Outputs); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, f, nil
}

// classesOf reads MetaClasses: nil when absent, a JSON array of strings,
// or, from files of an earlier diynn, names joined by U+001F.
func classesOf(meta map[string]string) ([]string, error) {
	v, ok := meta[MetaClasses]
	if !ok || v == "" {
		return nil, nil
	}
	if !strings.HasPrefix(v, "[") {
		if !strings.Contains(v, "\x1f") { // a classifier has two classes or more
			return nil, fmt.Errorf("metadata %q = %.40q is not a JSON array of class names", MetaClasses, v)
		}
		return strings.Split(v, "\x1f"), nil
	}
	var classes []string
	if err := json.Unmarshal([]byte(v), &classes); err != nil {
		return nil, fmt.Errorf("metadata %q is not a JSON array of class names: %w", MetaClasses, err)
	}
	return classes, nil
}

// checkClasses refuses class names that do not name a classifier's
// outputs one to one; an autoencoder's (task "reconstruct") may name its
// data's classes instead.
func checkClasses(classes []string, task string, outputs int) error {
	if len(classes) == 0 || task == "reconstruct" || task == "joint" || len(classes) == outputs {
		return nil
	}
	return fmt.Errorf("%d class names for %d outputs: a classifier's %q name its outputs, one each", len(classes), outputs, MetaClasses)
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
	var p *Plan
	var err error
	if in, ok := f.Metadata[MetaInput]; ok {
		var shape []int
		if err := json.Unmarshal([]byte(in), &shape); err != nil {
			return nil, fmt.Errorf("metadata %q = %q is not a JSON array of dimensions: %w", MetaInput, in, err)
		}
		p, err = NewPlanFor(spec, shape)
	} else {
		p, err = NewPlan(spec)
	}
	if err != nil {
		return nil, err
	}
	if err := p.CheckTensors(f); err != nil {
		return nil, err
	}
	return p, nil
}

// SetParams copies every parameter's and buffer's value from f, checking
// shapes (LoadParams).
func (m *Model) SetParams(f *safetensors.File) error { return LoadParams(m, f) }

// Atoi is strconv.Atoi for metadata values, with a useful message.
func Atoi(meta map[string]string, key string) (int, error) {
	v, err := strconv.Atoi(meta[key])
	if err != nil {
		return 0, fmt.Errorf("metadata %q = %q is not an integer", key, meta[key])
	}
	return v, nil
}
