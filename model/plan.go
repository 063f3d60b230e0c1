package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/internal/bytesize"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

// ParamShape is the name and shape of one parameter or buffer, named as
// Model.Tensors and Model.Net.Params name it ("0.weight", "0.bias", …).
type ParamShape struct {
	Name  string
	Shape []int
	// DType is how a file stores it: float32 (the zero value) for every
	// parameter, int64 (safetensors.I64) for a count such as batch norm's
	// num_batches_tracked, as PyTorch does.
	DType safetensors.DType
}

// Len is the number of values of the parameter.
func (p ParamShape) Len() int64 {
	n := int64(1)
	for _, d := range p.Shape {
		n *= int64(d)
	}
	return n
}

// Plan is a spec that has been parsed and checked: its layers, the shape
// of the data between them and the parameters Build would create, all
// computed without allocating anything on a device. Use it to check a
// model's size (Estimate) or a file's tensors (CheckTensors) first.
type Plan struct {
	Spec   string // canonical form
	Layers []Layer
	// Shapes are per sample (no batch dimension): Shapes[0] is the input's
	// and Shapes[i+1] that of the output of layer i, so the output's is
	// Shapes[len(Layers)].
	Shapes []tensor.Shape
	// Widths[i] is the number of values of Shapes[i].
	Widths []int
	// Params lists the parameters in the order of Model.Net.Params.
	Params []ParamShape
	// Buffers lists the tensors that are saved with the parameters but not
	// trained (batch norm's running statistics), in the order of
	// nn.Buffers(Model.Net), named as PyTorch's state_dict names them
	// ("1.running_mean"), with the shape and dtype of a file.
	Buffers []ParamShape
	layers  []LayerPlan // what each layer's definition planned
}

// Inputs is the number of input values of a sample.
func (p *Plan) Inputs() int { return p.Widths[0] }

// Outputs is the number of output values of a sample.
func (p *Plan) Outputs() int { return p.Widths[len(p.Widths)-1] }

// InputShape is the per-sample input shape.
func (p *Plan) InputShape() tensor.Shape { return slices.Clone(p.Shapes[0]) }

// OutputShape is the per-sample output shape.
func (p *Plan) OutputShape() tensor.Shape { return slices.Clone(p.Shapes[len(p.Shapes)-1]) }

// NumBuffers is the number of buffer values.
func (p *Plan) NumBuffers() int64 {
	var n int64
	for _, b := range p.Buffers {
		n += b.Len()
	}
	return n
}

// NumParams is the number of parameter values.
func (p *Plan) NumParams() int64 {
	var n int64
	for _, ps := range p.Params {
		n += ps.Len() // NewPlan bounds the sum
	}
	return n
}

// maxSampleValues bounds the values of one sample between two layers, as
// package tensor bounds a whole tensor.
const maxSampleValues = math.MaxInt32

// NewPlan parses spec and checks that its layers fit together. The input
// shape is the one the first layer that implies one gives, as linear(IN,…)
// implies (IN); the layers before it must keep their input's shape (tanh,
// dropout). A spec that must be told its input, one whose first layer with
// a shape is a convolution, a pooling or a batch norm, is refused with a
// message that says so: conv(1,32,3) takes 1×H×W images of any size, so
// NewPlanFor plans it for the data's sample shape, (1, 28, 28).
func NewPlan(spec string) (*Plan, error) {
	layers, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	i, l, in, ok := impliedInput(layers)
	if !ok {
		return nil, &SpecError{Spec: spec, Pos: 0, Msg: "no linear layer, nor another that implies the input shape: the input size is unknown (NewPlanFor takes it from the data)"}
	}
	if in == nil {
		return nil, &SpecError{Spec: spec, Pos: l.Pos, Msg: fmt.Sprintf(
			"%v does not fix the input's shape (its height and width come from the data): the model needs the data's sample shape, such as (1,28,28) for 28×28 grey images (NewPlanFor)", l)}
	}
	return plan(spec, layers, in, i, nil)
}

// impliedInput finds the first of layers that implies its input shape
// (LayerDef.Input): its index i among layers, the layer l that implies it
// and the shape, nil when l's arguments do not fix it. A layer with heads
// and no Input of its own implies what the first of its heads that
// implies one does (concat[linear(30,10) | …] takes (30)); l is then the
// layer in the head. ok is false when no layer implies an input.
func impliedInput(layers []Layer) (i int, l Layer, in tensor.Shape, ok bool) {
	for i, l := range layers {
		def, _ := lookup(l.Kind)
		if def.Input != nil {
			return i, l, def.Input(Args{layer: l, def: def}), true
		}
		for _, head := range l.Heads {
			if _, hl, in, ok := impliedInput(head); ok {
				return i, hl, in, true
			}
		}
	}
	return 0, Layer{}, nil, false
}

// NewPlanFor is NewPlan for data whose samples have shape in, such as a
// data.Dataset's Shape: (1, 28, 28) for grey 28×28 images.
func NewPlanFor(spec string, in tensor.Shape) (*Plan, error) {
	if err := checkShape(in); err != nil {
		return nil, fmt.Errorf("model %q: input shape %v: %w", spec, in, err)
	}
	layers, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	return plan(spec, layers, slices.Clone(in), -1, nil)
}

// checkShape checks a per-sample shape.
func checkShape(s tensor.Shape) error {
	if len(s) == 0 {
		return errors.New("a sample needs at least one dimension")
	}
	n := int64(1)
	for _, d := range s {
		if d <= 0 {
			return errors.New("dimensions must be positive")
		}
		if n *= int64(d); n > maxSampleValues {
			return fmt.Errorf("more than %d values a sample", maxSampleValues)
		}
	}
	return nil
}

// plan plans layers for input shape in. from is the layer in was inferred
// from, or -1: the layers before it must keep their input's shape. outer is
// the context of the layer whose head layers are, nil at the top level;
// spec is the whole spec, heads included, whose columns errors show.
func plan(spec string, layers []Layer, in tensor.Shape, from int, outer *PlanContext) (*Plan, error) {
	p := &Plan{Spec: Format(layers), Layers: layers, Shapes: []tensor.Shape{in}}
	var c counter
	var params int64
	for i, l := range layers {
		def, _ := lookup(l.Kind)
		ctx := PlanContext{In: p.Shapes[i], Index: i, Layers: layers, Shapes: p.Shapes, Outer: outer}
		// The heads first, each on the layer's input, with this layer as
		// their outer context: a head's tied finds its encoder in layers.
		var heads []*Plan
		for _, head := range l.Heads {
			hp, err := plan(spec, head, slices.Clone(p.Shapes[i]), -1, &ctx)
			if err != nil {
				return nil, err
			}
			heads = append(heads, hp)
		}
		ctx.Heads = heads
		lp, err := def.Plan(ctx, Args{layer: l, def: def})
		if err != nil {
			return nil, layerError(spec, l, err)
		}
		lp.heads = heads
		fail := func(format string, args ...any) error {
			return &SpecError{Spec: spec, Pos: l.Pos, Msg: fmt.Sprintf(format, args...)}
		}
		if err := checkShape(lp.Out); err != nil {
			return nil, fail("%v would give output shape %v: %v", l, lp.Out, err)
		}
		if i < from && !slices.Equal(lp.Out, in) {
			return nil, fail("%v changes its input's shape, so the input shape cannot be taken from %v at column %d (NewPlanFor takes it from the data)",
				l, layers[from], layers[from].Pos+1)
		}
		for _, ps := range lp.Params {
			if err := checkShape(ps.Shape); err != nil {
				return nil, fail("%v: parameter %q of shape %v: %v", l, ps.Name, tensor.Shape(ps.Shape), err)
			}
			params = c.add(params, ps.Len())
			p.Params = append(p.Params, ParamShape{Name: fmt.Sprintf("%d.%s", i, ps.Name), Shape: slices.Clone(ps.Shape), DType: ps.DType})
		}
		for _, bs := range lp.Buffers {
			if len(bs.Shape) > 0 { // a 0-dimensional buffer (a count) is one value
				if err := checkShape(bs.Shape); err != nil {
					return nil, fail("%v: buffer %q of shape %v: %v", l, bs.Name, tensor.Shape(bs.Shape), err)
				}
			}
			params = c.add(params, bs.Len())
			p.Buffers = append(p.Buffers, ParamShape{Name: fmt.Sprintf("%d.%s", i, bs.Name), Shape: slices.Clone(bs.Shape), DType: bs.DType})
		}
		if c.overflow {
			return nil, fail("%v takes the model past %d parameters", l, int64(math.MaxInt64))
		}
		if lp.Memory == nil {
			n := volume(p.Shapes[i])
			lp.Memory = &Memory{Forward: volume(lp.Out), Backward: n, FirstBackward: n}
		}
		p.layers = append(p.layers, lp)
		p.Shapes = append(p.Shapes, slices.Clone(lp.Out))
	}
	for _, s := range p.Shapes {
		p.Widths = append(p.Widths, int(volume(s)))
	}
	return p, nil
}

// MaxParamBytes bounds the parameter values Build allocates: the largest
// model that a file safetensors.ReadFile reads can hold. It is a sanity
// bound against a typo that would take all memory; the budget of a given
// device is Estimate's and Footprint.Check's job.
const MaxParamBytes = safetensors.MaxFileBytes

// Build creates the network on b, drawing initial weights, and the seeds of
// layers that draw random numbers, from rng. It refuses a model whose
// parameters and buffers exceed MaxParamBytes before allocating, and names
// the layer, its position and its size when the backend fails to allocate
// it.
func (p *Plan) Build(b backend.Backend, rng *rand.Rand) (*Model, error) {
	if n := p.NumParams() + p.NumBuffers(); 4*n > MaxParamBytes {
		return nil, fmt.Errorf("model %q has %d parameters (%s), more than the %s a model file holds",
			p.Spec, n, bytesize.Format(4*n), bytesize.Format(MaxParamBytes))
	}
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("model %q: the backend had failed before it was built: %w", p.Spec, err)
	}
	mods, err := p.build(p.Spec, b, rng, nil)
	if err != nil {
		return nil, err
	}
	return &Model{Spec: p.Spec, Layers: p.Layers, Net: nn.NewSequential(mods...), Inputs: p.Inputs(), Outputs: p.Outputs(),
		InShape: p.InputShape(), OutShape: p.OutputShape(), buffers: p.Buffers}, nil
}

// build builds the modules of p's layers, checking each one's parameters
// and buffers against its plan. outer is the context of the layer whose
// head p is, nil at the top level; spec is the whole spec, for messages.
func (p *Plan) build(spec string, b backend.Backend, rng *rand.Rand, outer *BuildContext) ([]nn.Module, error) {
	mods := make([]nn.Module, 0, len(p.Layers))
	for i, l := range p.Layers {
		def, _ := lookup(l.Kind)
		lp := p.layers[i]
		var values int64
		for _, ps := range lp.Params {
			values += ps.Len()
		}
		where := fmt.Sprintf("model %q: layer %d (column %d), %v", spec, i, l.Pos+1, l)
		if outer != nil {
			where = fmt.Sprintf("model %q: layer %d of head %q (column %d), %v", spec, i, p.Spec, l.Pos+1, l)
		}
		ctx := BuildContext{Backend: b, Rand: rng, In: slices.Clone(p.Shapes[i]), Out: slices.Clone(p.Shapes[i+1]), Index: i, Earlier: mods, Outer: outer}
		for _, hp := range lp.heads {
			hm, err := hp.build(spec, b, rng, &ctx)
			if err != nil {
				return nil, err
			}
			ctx.Heads = append(ctx.Heads, hm)
		}
		mod, err := def.Build(ctx, Args{layer: l, def: def})
		if err == nil && mod == nil {
			err = errors.New("its definition built no module")
		}
		if err == nil {
			err = b.Err() // an allocation that failed is the backend's sticky error
		}
		if err != nil {
			return nil, fmt.Errorf("%s, with %s of weights and gradients: %w", where, bytesize.Format(8*values), err)
		}
		got := mod.Params()
		if !slices.EqualFunc(got, lp.Params, func(a nn.Param, b ParamShape) bool {
			return a.Name == b.Name && slices.Equal([]int(a.Value.Shape()), b.Shape)
		}) {
			return nil, fmt.Errorf("%s: the module has parameters %s but its definition plans %s: the LayerDef's Plan and Build disagree",
				where, paramList(got), planList(lp.Params))
		}
		if got := nn.Buffers(mod); !slices.EqualFunc(got, lp.Buffers, func(a nn.Param, b ParamShape) bool {
			return a.Name == b.Name && fileShapeFits(b.Shape, a.Value.Shape())
		}) {
			return nil, fmt.Errorf("%s: the module has buffers %s but its definition plans %s: the LayerDef's Plan and Build disagree",
				where, paramList(got), planList(lp.Buffers))
		}
		mods = append(mods, mod)
	}
	return mods, nil
}

// fileShapeFits reports whether a tensor of shape file, in a safetensors
// file, fills a module's tensor of shape mod: the same shape, or one value
// either way, since PyTorch stores a count as a 0-dimensional tensor ([])
// that a module may hold as (1).
func fileShapeFits(file []int, mod tensor.Shape) bool {
	if slices.Equal(file, []int(mod)) {
		return true
	}
	return len(file) <= 1 && len(mod) <= 1 && volume(file) == 1 && volume(mod) == 1
}

func paramList(ps []nn.Param) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Name + " " + p.Value.Shape().String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func planList(ps []ParamShape) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Name + " " + tensor.Shape(p.Shape).String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// CheckTensors checks that f holds every parameter and buffer of the plan
// with its shape and dtype: parameters F32 and of their exact shape (as
// LoadParams wants them), buffers of their planned dtype, a count being a
// non-negative integer, whose shape may also be one value either way ([]
// or [1], as PyTorch accepts). Other tensors (a checkpoint's optimizer
// state) are allowed; CheckStateDict refuses them.
func (p *Plan) CheckTensors(f *safetensors.File) error {
	have := make(map[string]safetensors.Tensor, len(f.Tensors))
	for _, t := range f.Tensors {
		have[t.Name] = t
	}
	for k, list := range [][]ParamShape{p.Params, p.Buffers} {
		buffer := k == 1
		for _, ps := range list {
			t, ok := have[ps.Name]
			if !ok {
				return fmt.Errorf("tensor %q of %s is missing", ps.Name, p.Spec)
			}
			if !slices.Equal(t.Shape, ps.Shape) && !(buffer && fileShapeFits(t.Shape, ps.Shape)) {
				return fmt.Errorf("tensor %q has shape %v, the model needs %v", ps.Name, tensor.Shape(t.Shape), tensor.Shape(ps.Shape))
			}
			if t.DType != ps.DType {
				hint := "weights and statistics are float32: convert others with .float() before saving"
				if ps.DType == safetensors.I64 {
					hint = "a count is int64, as PyTorch saves num_batches_tracked"
				}
				return fmt.Errorf("tensor %q is %s in the file, the model keeps it as %s (%s)", ps.Name, dtypeName(t.DType), dtypeName(ps.DType), hint)
			}
			if ps.DType == safetensors.I64 {
				for i, v := range t.Data {
					if v < 0 {
						return fmt.Errorf("tensor %q[%d] is %d: a count cannot be negative", ps.Name, i, int64(v))
					}
				}
			}
		}
	}
	return nil
}

// dtypeName writes a dtype as a safetensors header does.
func dtypeName(d safetensors.DType) string {
	if d == safetensors.F32 {
		return "F32"
	}
	return string(d)
}

// CheckStateDict is CheckTensors for a file that should hold the model's
// tensors and nothing else, as PyTorch's load_state_dict(strict=True)
// wants: a file of weights from elsewhere, whose tensor that the spec does
// not know is a sign that the spec is not the network's. It names the
// first such tensor and the layer its index points at.
func (p *Plan) CheckStateDict(f *safetensors.File) error {
	if err := p.CheckTensors(f); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, list := range [][]ParamShape{p.Params, p.Buffers} {
		for _, ps := range list {
			known[ps.Name] = true
		}
	}
	for _, t := range f.Tensors {
		if known[t.Name] {
			continue
		}
		where := ""
		if i, _, ok := strings.Cut(t.Name, "."); ok {
			if k, err := strconv.Atoi(i); err == nil && k >= 0 && k < len(p.Layers) {
				where = fmt.Sprintf(": layer %d of the spec is %v", k, p.Layers[k])
			}
		}
		return fmt.Errorf("tensor %q is not a parameter or buffer of %s%s", t.Name, p.Spec, where)
	}
	return nil
}
