package model

import (
	"fmt"
	"slices"

	"github.com/diynn/diynn/internal/bytesize"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// The built-in layers, registered as a user's would be.
func init() {
	inits := map[string]nn.Init{"default": nn.InitDefault, "xavier": nn.InitXavier, "kaiming": nn.InitKaiming}
	RegisterLayer("linear", LayerDef{
		Usage:   "linear(IN,OUT[,INIT])",
		MinArgs: 2, MaxArgs: 3, Defaults: []string{"default"},
		Check: func(a Args) error {
			in, err := a.At(0).Int(1)
			if err != nil {
				return err
			}
			out, err := a.At(1).Int(1)
			if err != nil {
				return err
			}
			if _, err := a.At(2).Word("init", "default", "xavier", "kaiming"); err != nil {
				return err
			}
			if int64(in)*int64(out) > maxLayerWeights {
				return fmt.Errorf("linear(%d,%d) has %d weights, more than the %d (%s as float32) one layer may have",
					in, out, int64(in)*int64(out), maxLayerWeights, bytesize.Format(4*maxLayerWeights))
			}
			return nil
		},
		Input: func(a Args) tensor.Shape { in, _ := a.At(0).Int(1); return tensor.Shape{in} },
		Plan: func(ctx PlanContext, a Args) (LayerPlan, error) {
			in, _ := a.At(0).Int(1)
			out, _ := a.At(1).Int(1)
			if err := wantVector(ctx, a.Layer(), in); err != nil {
				return LayerPlan{}, err
			}
			// As nn.NewLinear names and shapes them; TestPlanMatchesBuild
			// keeps the two in step.
			return LayerPlan{Out: tensor.Shape{out},
				Params: []ParamShape{{"weight", []int{out, in}}, {"bias", []int{out}}},
				Memory: &Memory{Forward: int64(out), Backward: int64(in), FirstBackward: 0}}, nil
		},
		Build: func(ctx BuildContext, a Args) (nn.Module, error) {
			in, _ := a.At(0).Int(1)
			out, _ := a.At(1).Int(1)
			return nn.NewLinear(ctx.Backend, in, out, inits[a.At(2).Text()], ctx.Rand)
		},
	})
	RegisterLayer("tied", LayerDef{
		Usage:   "tied(K)",
		MinArgs: 1, MaxArgs: 1,
		Check: func(a Args) error { _, err := a.At(0).Int(0); return err },
		Plan: func(ctx PlanContext, a Args) (LayerPlan, error) {
			k, _ := a.At(0).Int(0)
			if k >= ctx.Index || ctx.Layers[k].Kind != "linear" {
				return LayerPlan{}, fmt.Errorf("tied(%d) must name an earlier linear layer (positions count from 0)", k)
			}
			enc := ctx.Layers[k]
			encIn, encOut := int(enc.Args[0]), int(enc.Args[1])
			if volume(ctx.In) != int64(encOut) {
				return LayerPlan{}, fmt.Errorf("tied(%d) takes %d inputs (the outputs of %v) but the layer before gives %s", k, encOut, enc, shapeText(ctx.In))
			}
			// nn.NewTiedLinear: only a bias; the weight is the encoder's.
			return LayerPlan{Out: tensor.Shape{encIn}, Params: []ParamShape{{"bias", []int{encIn}}},
				Memory: &Memory{Forward: int64(encIn), Backward: int64(encOut)}}, nil
		},
		Build: func(ctx BuildContext, a Args) (nn.Module, error) {
			k, _ := a.At(0).Int(0)
			enc, ok := ctx.Earlier[k].(*nn.Linear)
			if !ok {
				return nil, fmt.Errorf("tied(%d): module %d is a %T, not an *nn.Linear", k, k, ctx.Earlier[k])
			}
			return nn.NewTiedLinear(enc, ctx.Rand)
		},
	})
	pointwise := func(name string, m func() nn.Module) {
		RegisterLayer(name, LayerDef{Usage: name, Plan: samePlan, Build: func(BuildContext, Args) (nn.Module, error) { return m(), nil }})
	}
	pointwise("tanh", func() nn.Module { return nn.Tanh() })
	pointwise("sigmoid", func() nn.Module { return nn.Sigmoid() })
	pointwise("relu", func() nn.Module { return nn.ReLU() })
	RegisterLayer("leakyrelu", LayerDef{
		Usage:   "leakyrelu(ALPHA)",
		MinArgs: 1, MaxArgs: 1,
		Check: func(a Args) error { _, err := a.At(0).Float(); return err },
		Plan:  samePlan,
		Build: func(_ BuildContext, a Args) (nn.Module, error) {
			alpha, _ := a.At(0).Float()
			return nn.LeakyReLU(float32(alpha)), nil
		},
	})
	// The softmaxes run over all the values of a sample, whatever its shape.
	pointwise("softmax", func() nn.Module { return nn.NewSoftmax() })
	pointwise("logsoftmax", func() nn.Module { return nn.NewLogSoftmax() })
	// Dropout keeps a mask and its output, and returns its own input
	// gradient; GaussianNoise draws its noise into its output and passes
	// the gradient through. At 0 both are the identity and keep nothing.
	// Their seeds come from the build's rng, so that a seeded build draws
	// the same masks.
	random := func(name, usage string, check func(v float64) bool, want string, forward, backward int64,
		build func(v float64, seed uint64) (nn.Module, error)) {
		RegisterLayer(name, LayerDef{
			Usage:   usage,
			MinArgs: 1, MaxArgs: 1,
			Check: func(a Args) error {
				v, err := a.At(0).Float()
				if err == nil && !check(v) {
					err = a.At(0).Errorf("%s needs %s here, got %s", name, want, a.At(0).Text())
				}
				return err
			},
			Plan: func(ctx PlanContext, a Args) (LayerPlan, error) {
				mem := &Memory{}
				if v, _ := a.At(0).Float(); v != 0 {
					n := volume(ctx.In)
					mem = &Memory{Forward: forward * n, Backward: backward * n, FirstBackward: backward * n}
				}
				return LayerPlan{Out: slices.Clone(ctx.In), Memory: mem}, nil
			},
			Build: func(ctx BuildContext, a Args) (nn.Module, error) {
				v, _ := a.At(0).Float()
				return build(v, ctx.Rand.Uint64())
			},
		})
	}
	random("dropout", "dropout(P)", func(p float64) bool { return p >= 0 && p < 1 }, "a probability in [0, 1)", 2, 1,
		func(p float64, seed uint64) (nn.Module, error) { return nn.NewDropout(p, seed) })
	random("gaussiannoise", "gaussiannoise(SIGMA)", func(s float64) bool { return s >= 0 }, "a non-negative standard deviation", 1, 0,
		func(s float64, seed uint64) (nn.Module, error) { return nn.NewGaussianNoise(s, seed) })
	RegisterLayer("flatten", LayerDef{
		Usage: "flatten",
		// A view of its input, and of its output's gradient: nothing to keep.
		Plan: func(ctx PlanContext, _ Args) (LayerPlan, error) {
			return LayerPlan{Out: tensor.Shape{int(volume(ctx.In))}, Memory: &Memory{}}, nil
		},
		Build: func(BuildContext, Args) (nn.Module, error) { return nn.NewFlatten(), nil },
	})
}

// samePlan is the plan of a layer whose output has its input's shape and
// which has no parameters.
func samePlan(ctx PlanContext, _ Args) (LayerPlan, error) {
	return LayerPlan{Out: slices.Clone(ctx.In)}, nil
}

// wantVector checks that a layer that takes n values per sample gets them,
// in any shape: nn.Linear reads a (1×28×28) sample as its 784 values.
func wantVector(ctx PlanContext, l Layer, n int) error {
	if volume(ctx.In) == int64(n) {
		return nil
	}
	from := "the layer before gives"
	if ctx.Index == 0 {
		from = "the input has"
	}
	return fmt.Errorf("%v takes %d inputs but %s %s", l, n, from, shapeText(ctx.In))
}

// shapeText writes a per-sample shape for messages: a vector as its width
// (3), anything else as a shape (1×28×28).
func shapeText(s tensor.Shape) string {
	if len(s) == 1 {
		return fmt.Sprint(s[0])
	}
	return fmt.Sprintf("%d (shape %v)", volume(s), s)
}

// volume is the number of values of a shape.
func volume(s []int) int64 {
	n := int64(1)
	for _, d := range s {
		n *= int64(d)
	}
	return n
}
