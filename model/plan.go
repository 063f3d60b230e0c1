package model

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/internal/bytesize"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

// ParamShape is the name and shape of one parameter, named as Model.Tensors
// and Model.Net.Params name it ("0.weight", "0.bias", …).
type ParamShape struct {
	Name  string
	Shape []int
}

// Len is the number of values of the parameter.
func (p ParamShape) Len() int64 {
	n := int64(1)
	for _, d := range p.Shape {
		n *= int64(d)
	}
	return n
}

// Plan is a spec that has been parsed and checked: its layers, the width
// of the data between them and the parameters Build would create, all
// computed without allocating anything on a device. Use it to check a
// model's size (Estimate) or a file's tensors (CheckTensors) first.
type Plan struct {
	Spec   string // canonical form
	Layers []Layer
	// Widths[0] is the number of inputs and Widths[i+1] the width of the
	// output of layer i, so the output width is Widths[len(Layers)].
	Widths []int
	// Params lists the parameters in the order of Model.Net.Params.
	Params []ParamShape
}

// Inputs is the number of input features.
func (p *Plan) Inputs() int { return p.Widths[0] }

// Outputs is the width of the output.
func (p *Plan) Outputs() int { return p.Widths[len(p.Widths)-1] }

// NumParams is the number of parameter values.
func (p *Plan) NumParams() int64 {
	var n int64
	for _, ps := range p.Params {
		n += ps.Len() // each at most 2²⁸ (Parse's bound): no spec that fits in memory overflows
	}
	return n
}

// NewPlan parses spec and checks that its layers fit together.
func NewPlan(spec string) (*Plan, error) {
	layers, err := Parse(spec)
	if err != nil {
		return nil, err
	}
	p := &Plan{Spec: Format(layers), Layers: layers, Widths: make([]int, len(layers)+1)}
	// The width before the first linear layer (after leading activations)
	// is that layer's input; -1 until one is found.
	width := -1
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
				for k := 0; k <= i; k++ {
					p.Widths[k] = in
				}
			}
			// As nn.NewLinear names and shapes them; TestPlanMatchesBuild
			// keeps the two in step.
			p.Params = append(p.Params,
				ParamShape{fmt.Sprintf("%d.weight", i), []int{out, in}},
				ParamShape{fmt.Sprintf("%d.bias", i), []int{out}})
			width = out
		case "tied":
			k := int(l.Args[0])
			if k >= i || layers[k].Kind != "linear" {
				return nil, fail("tied(%d) must name an earlier linear layer (positions count from 0)", k)
			}
			encIn, encOut := int(layers[k].Args[0]), int(layers[k].Args[1])
			if width >= 0 && encOut != width { // width is known: layer k came before
				return nil, fail("tied(%d) takes %d inputs (the outputs of %v) but the layer before gives %d", k, encOut, layers[k], width)
			}
			// nn.NewTiedLinear: only a bias; the weight is the encoder's.
			p.Params = append(p.Params, ParamShape{fmt.Sprintf("%d.bias", i), []int{encIn}})
			width = encIn
		}
		p.Widths[i+1] = width // activations keep the width (-1 before a linear layer, fixed above)
	}
	if width < 0 {
		return nil, &SpecError{Spec: spec, Pos: 0, Msg: "no linear layer: the input size is unknown"}
	}
	return p, nil
}

// MaxParamBytes bounds the parameter values Build allocates: the largest
// model that a file safetensors.ReadFile reads can hold. It is a sanity
// bound against a typo that would take all memory; the budget of a given
// device is Estimate's and Footprint.Check's job.
const MaxParamBytes = safetensors.MaxFileBytes

// Build creates the network on b, drawing initial weights from rng. It
// refuses a model whose parameters exceed MaxParamBytes before allocating.
func (p *Plan) Build(b backend.Backend, rng *rand.Rand) (*Model, error) {
	if n := p.NumParams(); 4*n > MaxParamBytes {
		return nil, fmt.Errorf("model %q has %d parameters (%s), more than the %s a model file holds",
			p.Spec, n, bytesize.Format(4*n), bytesize.Format(MaxParamBytes))
	}
	m := &Model{Spec: p.Spec, Layers: p.Layers, Inputs: p.Inputs(), Outputs: p.Outputs()}
	mods := make([]nn.Module, len(p.Layers))
	for i, l := range p.Layers {
		var err error
		switch l.Kind {
		case "linear":
			init := map[string]nn.Init{"default": nn.InitDefault, "xavier": nn.InitXavier, "kaiming": nn.InitKaiming}[l.Init]
			mods[i], err = nn.NewLinear(b, int(l.Args[0]), int(l.Args[1]), init, rng)
		case "tied":
			mods[i], err = nn.NewTiedLinear(mods[int(l.Args[0])].(*nn.Linear), rng)
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
		if err != nil {
			return nil, err
		}
	}
	m.Net = nn.NewSequential(mods...)
	return m, nil
}

// CheckTensors checks that f holds every parameter of the plan with its
// shape. Other tensors (a checkpoint's optimizer state) are allowed.
func (p *Plan) CheckTensors(f *safetensors.File) error {
	have := make(map[string][]int, len(f.Tensors))
	for _, t := range f.Tensors {
		have[t.Name] = t.Shape
	}
	for _, ps := range p.Params {
		shape, ok := have[ps.Name]
		if !ok {
			return fmt.Errorf("tensor %q of %s is missing", ps.Name, p.Spec)
		}
		if !slices.Equal(shape, ps.Shape) {
			return fmt.Errorf("tensor %q has shape %v, the model needs %v", ps.Name, tensor.Shape(shape), tensor.Shape(ps.Shape))
		}
	}
	return nil
}
