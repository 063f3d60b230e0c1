package model

import (
	"fmt"
	"slices"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/internal/bytesize"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
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
				Params: []ParamShape{{Name: "weight", Shape: []int{out, in}}, {Name: "bias", Shape: []int{out}}},
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
			// In a head, K counts the layers of the spec that holds the
			// concat, which must be before it: the head's own layers are
			// not among them.
			layers, before := ctx.Layers, ctx.Index
			if ctx.Outer != nil {
				layers, before = ctx.Outer.Layers, ctx.Outer.Index
			}
			if k >= before || layers[k].Kind != "linear" {
				if ctx.Outer != nil {
					return LayerPlan{}, fmt.Errorf("tied(%d) in a head of %s names layer %d of the spec that holds the %s, which must be a linear layer before it (positions count from 0; a head's own layers cannot be tied to)",
						k, layers[before].Kind, k, layers[before].Kind)
				}
				return LayerPlan{}, fmt.Errorf("tied(%d) must name an earlier linear layer (positions count from 0)", k)
			}
			enc := layers[k]
			encIn, encOut := int(enc.Args[0]), int(enc.Args[1])
			if volume(ctx.In) != int64(encOut) {
				return LayerPlan{}, fmt.Errorf("tied(%d) takes %d inputs (the outputs of %v) but %s %s", k, encOut, enc, ctx.source(), shapeText(ctx.In))
			}
			// nn.NewTiedLinear: only a bias; the weight is the encoder's.
			return LayerPlan{Out: tensor.Shape{encIn}, Params: []ParamShape{{Name: "bias", Shape: []int{encIn}}},
				Memory: &Memory{Forward: int64(encIn), Backward: int64(encOut)}}, nil
		},
		Build: func(ctx BuildContext, a Args) (nn.Module, error) {
			k, _ := a.At(0).Int(0)
			earlier := ctx.Earlier
			if ctx.Outer != nil {
				earlier = ctx.Outer.Earlier
			}
			enc, ok := earlier[k].(*nn.Linear)
			if !ok {
				return nil, fmt.Errorf("tied(%d): module %d is a %T, not an *nn.Linear", k, k, earlier[k])
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
	// the gradient through. At 0, and in evaluation mode, both are the
	// identity and keep nothing.
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
					mem = &Memory{ForwardTrain: forward * n, Backward: backward * n, FirstBackward: backward * n}
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
	from := ctx.source()
	return fmt.Errorf("%v takes %d inputs but %s %s", l, n, from, shapeText(ctx.In))
}

// source says, for messages, where the layer's input comes from: "the
// layer before gives", "the input has", or for the first layer of a head
// "the head's input (the concat's) has".
func (ctx PlanContext) source() string {
	switch {
	case ctx.Index > 0:
		return "the layer before gives"
	case ctx.Outer != nil:
		return fmt.Sprintf("the head's input (that of %s) has", ctx.Outer.Layers[ctx.Outer.Index].Kind)
	}
	return "the input has"
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

// The convolutional layers. Their input shape is the data's, (C×H×W) per
// sample: their arguments fix the channels but not the height and width,
// so a spec that starts with one is planned with NewPlanFor.
func init() {
	conv := map[string]string{"stride": "1", "pad": "0", "bias": "true"}
	RegisterLayer("conv", LayerDef{
		Usage:   "conv(IN,OUT,K[,stride=S][,pad=P][,bias=false])",
		MinArgs: 3, MaxArgs: 3, Named: conv,
		Check: func(a Args) error { _, err := convArgsOf(a, false); return err },
		Input: imagesOfAnySize,
		Plan: func(ctx PlanContext, a Args) (LayerPlan, error) {
			c, _ := convArgsOf(a, false)
			h, w, err := wantImages(ctx, a.Layer(), c.in)
			if err != nil {
				return LayerPlan{}, err
			}
			oh, ow, err := windows(a, c.k, c.stride, c.pad, h, w, c.in)
			if err != nil {
				return LayerPlan{}, err
			}
			// nn.Conv2D: Forward keeps the im2col matrix (OH·OW rows of
			// IN·K·K), the product with the weights in NHWC order and the
			// output in NCHW; the parameter gradients need the output
			// gradient transposed to NHWC, and the input gradient the
			// columns' gradient and the image it gathers into.
			rows := int64(oh) * int64(ow)
			cols := rows * int64(c.in) * int64(c.k) * int64(c.k)
			dyT := rows * int64(c.out)
			return LayerPlan{Out: tensor.Shape{c.out, oh, ow}, Params: convParams(c, []int{c.out, c.in, c.k, c.k}),
				Memory: &Memory{Forward: cols + 2*rows*int64(c.out), FirstBackward: dyT, Backward: dyT + cols + int64(c.in)*int64(h)*int64(w),
					Largest: max(cols, dyT, int64(c.in)*int64(h)*int64(w))}}, nil
		},
		Build: func(ctx BuildContext, a Args) (nn.Module, error) {
			c, _ := convArgsOf(a, false)
			return nn.NewConv2D(ctx.Backend, c.in, c.out, c.k, c.stride, c.pad, c.bias, ctx.Rand)
		},
	})
	RegisterLayer("convtranspose", LayerDef{
		Usage:   "convtranspose(IN,OUT,K[,stride=S][,pad=P][,outpad=O][,bias=false])",
		MinArgs: 3, MaxArgs: 3, Named: map[string]string{"stride": "1", "pad": "0", "outpad": "0", "bias": "true"},
		Check: func(a Args) error { _, err := convArgsOf(a, true); return err },
		Input: imagesOfAnySize,
		Plan: func(ctx PlanContext, a Args) (LayerPlan, error) {
			c, _ := convArgsOf(a, true)
			h, w, err := wantImages(ctx, a.Layer(), c.in)
			if err != nil {
				return LayerPlan{}, err
			}
			oh := (h-1)*c.stride - 2*c.pad + c.k + c.outPad
			ow := (w-1)*c.stride - 2*c.pad + c.k + c.outPad
			if oh <= 0 || ow <= 0 {
				return LayerPlan{}, a.Named("pad").Errorf("%v would give %d×%d images from %d×%d: (H−1)·stride − 2·pad + K + outpad must be positive", a.Layer(), oh, ow, h, w)
			}
			// The convolution it transposes, from its output back to its
			// input, must be one the kernels can index.
			g := backend.ConvGeom{N: 1, C: c.out, H: oh, W: ow, KH: c.k, KW: c.k, StrideH: c.stride, StrideW: c.stride, PadH: c.pad, PadW: c.pad}
			if err := g.Check(); err != nil {
				return LayerPlan{}, fmt.Errorf("%v on %d×%d images: %w", a.Layer(), h, w, err)
			}
			// nn.ConvTranspose2D: Forward keeps its input in NHWC order, its
			// product with the weights (H·W rows of OUT·K·K) and the output;
			// the parameter gradients need the im2col matrix of the output
			// gradient, and the input gradient its product with the weights
			// in NHWC and in NCHW order.
			hw := int64(h) * int64(w)
			cols := hw * int64(c.out) * int64(c.k) * int64(c.k)
			return LayerPlan{Out: tensor.Shape{c.out, oh, ow}, Params: convParams(c, []int{c.in, c.out, c.k, c.k}),
				Memory: &Memory{Forward: hw*int64(c.in) + cols + int64(c.out)*int64(oh)*int64(ow), FirstBackward: cols, Backward: cols + 2*hw*int64(c.in),
					Largest: max(cols, int64(c.out)*int64(oh)*int64(ow))}}, nil
		},
		Build: func(ctx BuildContext, a Args) (nn.Module, error) {
			c, _ := convArgsOf(a, true)
			return nn.NewConvTranspose2D(ctx.Backend, c.in, c.out, c.k, c.stride, c.pad, c.outPad, c.bias, ctx.Rand)
		},
	})
}

// convArgs are the arguments of conv and convtranspose.
type convArgs struct {
	in, out, k, stride, pad, outPad int
	bias                            bool
}

// convArgsOf reads and checks a convolution's arguments; transposed adds
// outpad, which must be less than the stride (PyTorch's rule: a larger one
// would add rows that no input reaches).
func convArgsOf(a Args, transposed bool) (convArgs, error) {
	var c convArgs
	var err error
	for _, f := range []struct {
		v   *int
		arg Arg
		min int
	}{{&c.in, a.At(0), 1}, {&c.out, a.At(1), 1}, {&c.k, a.At(2), 1}, {&c.stride, a.Named("stride"), 1}, {&c.pad, a.Named("pad"), 0}} {
		if *f.v, err = f.arg.Int(f.min); err != nil {
			return c, err
		}
	}
	if transposed {
		if c.outPad, err = a.Named("outpad").Int(0); err != nil {
			return c, err
		}
		if c.outPad >= c.stride {
			return c, a.Named("outpad").Errorf("%s needs an outpad less than its stride %d, got %d", a.Layer().Kind, c.stride, c.outPad)
		}
	}
	bias, err := a.Named("bias").Word("bias", "true", "false")
	if err != nil {
		return c, err
	}
	c.bias = bias == "true"
	// In float64, exact below 2⁵³ and never wrapping: the int64 product of
	// four arguments up to 10⁹ can overflow to a small number.
	if n := float64(c.in) * float64(c.out) * float64(c.k) * float64(c.k); n > maxLayerWeights {
		return c, fmt.Errorf("%s has %s weights, more than the %d (%s as float32) one layer may have",
			a.Layer().Kind, formatNum(n), maxLayerWeights, bytesize.Format(4*maxLayerWeights))
	}
	// (The weight bound above keeps K far below this; a pad is bounded
	// only here, so that H + 2·pad cannot overflow.)
	if c.pad > maxArgMagnitude/4 {
		return c, a.Named("pad").Errorf("%s: pad %d is beyond any image", a.Layer().Kind, c.pad)
	}
	return c, nil
}

// convParams are a convolution's weight of the given shape and its bias.
func convParams(c convArgs, weight []int) []ParamShape {
	ps := []ParamShape{{Name: "weight", Shape: weight}}
	if c.bias {
		ps = append(ps, ParamShape{Name: "bias", Shape: []int{c.out}})
	}
	return ps
}

// imagesOfAnySize is the Input of a layer that takes images whose height
// and width its arguments do not say: nil, so that NewPlan asks for the
// data's shape.
func imagesOfAnySize(Args) tensor.Shape { return nil }

// wantImages checks that a layer that takes images of c channels (any
// number when c is 0) gets them, per sample (C×H×W), and returns their
// height and width.
func wantImages(ctx PlanContext, l Layer, c int) (h, w int, err error) {
	if len(ctx.In) == 3 && (c == 0 || ctx.In[0] == c) {
		return ctx.In[1], ctx.In[2], nil
	}
	from := ctx.source()
	want := "images (C×H×W)"
	if c > 0 {
		want = fmt.Sprintf("images of %d channel%s (%d×H×W)", c, plural(c), c)
	}
	if len(ctx.In) == 3 {
		return 0, 0, fmt.Errorf("%v takes %s but %s %d channel%s (shape %v)", l, want, from, ctx.In[0], plural(ctx.In[0]), ctx.In)
	}
	hint := ""
	if len(ctx.In) == 1 && ctx.Index > 0 {
		hint = ": reshape(C,H,W) makes images of vectors"
	}
	return 0, 0, fmt.Errorf("%v takes %s but %s %s%s", l, want, from, shapeText(ctx.In), hint)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// windows checks that a k×k window moving stride values at a time fits an
// h×w image padded by pad, and returns the number of windows down and
// across: (H + 2·pad − K)/stride + 1, rounded down, as PyTorch.
func windows(a Args, k, stride, pad, h, w, c int) (oh, ow int, err error) {
	if h+2*pad < k || w+2*pad < k {
		what := fmt.Sprintf("%d×%d images", h, w)
		if pad > 0 {
			what += fmt.Sprintf(" padded by %d", pad)
		}
		return 0, 0, a.At(windowArg(a)).Errorf("%v: its %d×%d window does not fit %s", a.Layer(), k, k, what)
	}
	g := backend.ConvGeom{N: 1, C: c, H: h, W: w, KH: k, KW: k, StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
	if err := g.Check(); err != nil {
		return 0, 0, fmt.Errorf("%v: %w", a.Layer(), err)
	}
	return g.OutH(), g.OutW(), nil
}

// windowArg is the position of a layer's window size: K is conv's third
// argument and a pooling's first.
func windowArg(a Args) int {
	if a.Layer().Kind == "conv" {
		return 2
	}
	return 0
}

// Pooling, batch normalisation, reshape, and concat, which runs heads.
func init() {
	pool := func(name string, keepsArgmax bool, build func(k, stride, pad int) (nn.Module, error)) {
		RegisterLayer(name, LayerDef{
			Usage:   name + "(K[,stride=S][,pad=P])",
			MinArgs: 1, MaxArgs: 1,
			// stride=0 stands for the window's size, PyTorch's default;
			// written out, a stride must be positive.
			Named:   map[string]string{"stride": "0", "pad": "0"},
			Implied: func(a Args, key string) bool { k, s, _, _ := poolArgsOf(a); return key == "stride" && s == k },
			Check:   func(a Args) error { _, _, _, err := poolArgsOf(a); return err },
			Input:   imagesOfAnySize,
			Plan: func(ctx PlanContext, a Args) (LayerPlan, error) {
				k, stride, pad, _ := poolArgsOf(a)
				h, w, err := wantImages(ctx, a.Layer(), 0)
				if err != nil {
					return LayerPlan{}, err
				}
				oh, ow, err := windows(a, k, stride, pad, h, w, ctx.In[0])
				if err != nil {
					return LayerPlan{}, err
				}
				out := int64(ctx.In[0]) * int64(oh) * int64(ow)
				// Max pooling keeps where each maximum was, a value per output.
				mem := &Memory{Forward: out, Backward: volume(ctx.In), FirstBackward: volume(ctx.In)}
				if keepsArgmax {
					mem.Forward *= 2
				}
				return LayerPlan{Out: tensor.Shape{ctx.In[0], oh, ow}, Memory: mem}, nil
			},
			Build: func(_ BuildContext, a Args) (nn.Module, error) {
				k, stride, pad, _ := poolArgsOf(a)
				return build(k, stride, pad)
			},
		})
	}
	pool("maxpool", true, func(k, s, p int) (nn.Module, error) { return nn.NewMaxPool2D(k, s, p) })
	pool("avgpool", false, func(k, s, p int) (nn.Module, error) { return nn.NewAvgPool2D(k, s, p) })
	RegisterLayer("globalavgpool", LayerDef{
		Usage: "globalavgpool",
		Input: imagesOfAnySize,
		Plan: func(ctx PlanContext, a Args) (LayerPlan, error) {
			if _, _, err := wantImages(ctx, a.Layer(), 0); err != nil {
				return LayerPlan{}, err
			}
			return LayerPlan{Out: tensor.Shape{ctx.In[0]}}, nil
		},
		Build: func(BuildContext, Args) (nn.Module, error) { return nn.NewGlobalAvgPool(), nil },
	})
	batchNorm := func(name string, twoD bool) {
		usage, input := name+"(C[,eps=E][,momentum=M])", imagesOfAnySize
		if !twoD {
			usage = name + "(F[,eps=E][,momentum=M])"
			input = func(a Args) tensor.Shape { f, _ := a.At(0).Int(1); return tensor.Shape{f} }
		}
		RegisterLayer(name, LayerDef{
			Usage:   usage,
			MinArgs: 1, MaxArgs: 1,
			Named: map[string]string{"eps": "1e-5", "momentum": "0.1"},
			Check: func(a Args) error {
				if _, err := a.At(0).Int(1); err != nil {
					return err
				}
				if eps, err := a.Named("eps").Float(); err != nil || eps <= 0 {
					if err == nil {
						err = a.Named("eps").Errorf("%s needs a positive eps, got %s", name, a.Named("eps").Text())
					}
					return err
				}
				if m, err := a.Named("momentum").Float(); err != nil || m < 0 || m > 1 {
					if err == nil {
						err = a.Named("momentum").Errorf("%s needs a momentum in [0, 1], got %s", name, a.Named("momentum").Text())
					}
					return err
				}
				return nil
			},
			Input: input,
			Plan: func(ctx PlanContext, a Args) (LayerPlan, error) {
				c, _ := a.At(0).Int(1)
				if twoD {
					if _, _, err := wantImages(ctx, a.Layer(), c); err != nil {
						return LayerPlan{}, err
					}
				} else if (len(ctx.In) != 1 && len(ctx.In) != 2) || ctx.In[0] != c {
					from := ctx.source()
					return LayerPlan{}, fmt.Errorf("%v takes %d features, (%d) or (%d×L) per sample, but %s %s", a.Layer(), c, c, c, from, shapeText(ctx.In))
				}
				// nn.BatchNorm: PyTorch's weight and bias, and its buffers,
				// num_batches_tracked a 0-dimensional int64 in a file (one
				// float32 in the module); a constant 1 it adds to that count;
				// and, when training, the batch's mean and variance.
				return LayerPlan{Out: slices.Clone(ctx.In),
					Params:  []ParamShape{{Name: "weight", Shape: []int{c}}, {Name: "bias", Shape: []int{c}}},
					Buffers: []ParamShape{{Name: "running_mean", Shape: []int{c}}, {Name: "running_var", Shape: []int{c}}, {Name: "num_batches_tracked", Shape: []int{}, DType: safetensors.I64}},
					Memory:  &Memory{Forward: volume(ctx.In), Backward: volume(ctx.In), FirstBackward: volume(ctx.In), Fixed: 1, FixedTrain: 2 * int64(c)}}, nil
			},
			Build: func(ctx BuildContext, a Args) (nn.Module, error) {
				c, _ := a.At(0).Int(1)
				eps, _ := a.Named("eps").Float()
				momentum, _ := a.Named("momentum").Float()
				var bn *nn.BatchNorm
				var err error
				if twoD {
					bn, err = nn.NewBatchNorm2D(ctx.Backend, c)
				} else {
					bn, err = nn.NewBatchNorm1D(ctx.Backend, c)
				}
				if err != nil {
					return nil, err
				}
				bn.Eps, bn.Momentum = eps, momentum
				return bn, nil
			},
		})
	}
	batchNorm("batchnorm2d", true)
	batchNorm("batchnorm1d", false)
	RegisterLayer("reshape", LayerDef{
		Usage:   "reshape(D1[,D2…])",
		MinArgs: 1, MaxArgs: 8,
		Check: func(a Args) error {
			n := int64(1)
			for i := range a.Len() {
				d, err := a.At(i).Int(1)
				if err != nil {
					return err
				}
				if n *= int64(d); n > maxSampleValues {
					return a.At(i).Errorf("reshape%v has more than %d values a sample", reshapeDims(a), int64(maxSampleValues))
				}
			}
			return nil
		},
		// First, it takes its values as a vector, as linear does.
		Input: func(a Args) tensor.Shape { return tensor.Shape{int(volume(reshapeDims(a)))} },
		// A view of its input, and of its output's gradient: nothing to keep.
		Plan: func(ctx PlanContext, a Args) (LayerPlan, error) {
			dims := reshapeDims(a)
			if volume(ctx.In) != volume(dims) {
				from := ctx.source()
				return LayerPlan{}, fmt.Errorf("%v makes samples of %d values but %s %s", a.Layer(), volume(dims), from, shapeText(ctx.In))
			}
			return LayerPlan{Out: dims, Memory: &Memory{}}, nil
		},
		Build: func(_ BuildContext, a Args) (nn.Module, error) { return nn.NewReshape(reshapeDims(a)...) },
	})
	// concat runs its heads on one input and joins their outputs (nn.Concat),
	// each head an nn.Sequential: parameters "5.1.0.weight" for module 0 of
	// head 1 of layer 5, as PyTorch names those of a module holding
	// Sequentials as children "0", "1".
	RegisterLayer("concat", LayerDef{
		Usage:    "concat[HEAD | HEAD…]",
		MinHeads: 2,
		Plan: func(ctx PlanContext, _ Args) (LayerPlan, error) {
			var lp LayerPlan
			var out int64
			mem := &Memory{}
			for h, hp := range ctx.Heads {
				out += int64(hp.Outputs())
				if out > maxSampleValues {
					return LayerPlan{}, fmt.Errorf("concat: its heads give more than %d values a sample", int64(maxSampleValues))
				}
				for _, ps := range hp.Params {
					lp.Params = append(lp.Params, ParamShape{Name: fmt.Sprintf("%d.%s", h, ps.Name), Shape: ps.Shape, DType: ps.DType})
				}
				for _, bs := range hp.Buffers {
					lp.Buffers = append(lp.Buffers, ParamShape{Name: fmt.Sprintf("%d.%s", h, bs.Name), Shape: bs.Shape, DType: bs.DType})
				}
				m := hp.Memory()
				mem.Forward += m.Forward
				mem.ForwardTrain += m.ForwardTrain
				mem.Backward += m.Backward
				mem.Fixed += m.Fixed
				mem.FixedTrain += m.FixedTrain
				mem.Largest = max(mem.Largest, m.Largest)
			}
			// nn.Concat keeps the joined output; Backward each head's
			// columns of its gradient and the sum of the heads' input
			// gradients. It has no AccGradParameters: first in a network,
			// it still computes its input's gradient.
			in := volume(ctx.In)
			mem.Forward += out
			mem.Backward += out + in
			mem.FirstBackward = mem.Backward
			mem.Largest = max(mem.Largest, out, in)
			lp.Out, lp.Memory = tensor.Shape{int(out)}, mem
			return lp, nil
		},
		Build: func(ctx BuildContext, _ Args) (nn.Module, error) {
			heads := make([]nn.Module, len(ctx.Heads))
			for h, mods := range ctx.Heads {
				heads[h] = nn.NewSequential(mods...)
			}
			return nn.NewConcat(heads...), nil
		},
	})
}

// reshapeDims are reshape's arguments.
func reshapeDims(a Args) tensor.Shape {
	dims := make(tensor.Shape, a.Len())
	for i := range dims {
		dims[i], _ = a.At(i).Int(1)
	}
	return dims
}

// poolArgsOf reads and checks a pooling's window, stride (the window's
// size when left out) and padding, at most half the window as PyTorch
// wants, so that every window holds an input value.
func poolArgsOf(a Args) (k, stride, pad int, err error) {
	if k, err = a.At(0).Int(1); err != nil {
		return
	}
	if stride, err = a.Named("stride").Int(0); err != nil {
		return
	}
	if stride == 0 {
		if slices.ContainsFunc(a.Layer().Named, func(n NamedArg) bool { return n.Key == "stride" }) {
			return 0, 0, 0, a.Named("stride").Errorf("%s needs a positive stride, got 0 (leave it out for the window's size)", a.Layer().Kind)
		}
		stride = k
	}
	if pad, err = a.Named("pad").Int(0); err != nil {
		return
	}
	if 2*pad > k {
		return 0, 0, 0, a.Named("pad").Errorf("%s pads at most half its window (%d), got pad=%d", a.Layer().Kind, k/2, pad)
	}
	if k > maxArgMagnitude/4 {
		return 0, 0, 0, a.At(0).Errorf("%s: window %d is beyond any image", a.Layer().Kind, k)
	}
	return
}
