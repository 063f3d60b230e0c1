package nntest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// goldenJSON is written by testdata/golden.py with PyTorch.
//
//go:embed testdata/golden.json
var goldenJSON []byte

type golden struct {
	Sizes  []int                `json:"sizes"`
	X      []float64            `json:"x"`
	Labels []int                `json:"labels"`
	Params map[string][]float64 `json:"params"`
	Output []float64            `json:"output"`
	Loss   float64              `json:"loss"`
	Grads  map[string][]float64 `json:"grads"`
	Steps  map[string]struct {
		Losses []float64            `json:"losses"`
		Params map[string][]float64 `json:"params"`
	} `json:"steps"`
}

// goldenTol is the relative tolerance of the golden test. An element much
// smaller than the rest of its tensor is held to goldenTol relative to a
// tenth of the tensor's largest magnitude (and at least goldenFloor): after
// Adam's sign-like steps, a weight that passes near zero carries the float32
// rounding of steps of the full learning rate, not of its own size.
const goldenTol, goldenFloor = 1e-5, 1e-2

func narrow(v []float64) []float32 {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return f
}

func matchGolden(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, golden has %d", what, len(got), len(want))
	}
	floor := goldenFloor
	for _, w := range want {
		floor = math.Max(floor, math.Abs(w)/10)
	}
	for i := range got {
		d := math.Abs(float64(got[i]) - want[i])
		if !(d <= goldenTol*math.Max(math.Abs(want[i]), floor)) {
			t.Errorf("%s[%d] = %.8g, PyTorch %.8g (relative difference %.2g)", what, i, got[i], want[i], d/math.Abs(want[i]))
			return
		}
	}
}

// goldenNet builds the golden network on b with PyTorch's initial weights.
func goldenNet(t *testing.T, b backend.Backend, g *golden) *nn.Sequential {
	t.Helper()
	rng := rand.New(rand.NewPCG(0, 0)) // overwritten below
	var mods []nn.Module
	for i := 0; i+1 < len(g.Sizes); i++ {
		l, err := nn.NewLinear(b, g.Sizes[i], g.Sizes[i+1], nn.InitDefault, rng)
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, l)
		switch i {
		case 0:
			mods = append(mods, nn.Tanh())
		case 1:
			mods = append(mods, nn.ReLU())
		}
	}
	net := nn.NewSequential(mods...)
	for _, p := range net.Params() {
		v, ok := g.Params[p.Name]
		if !ok {
			t.Fatalf("golden file has no parameter %q", p.Name)
		}
		if err := p.Value.Set(narrow(v)); err != nil {
			t.Fatal(err)
		}
	}
	return net
}

// CheckGolden runs the PyTorch golden test on b: a 5-7-6-3 network's output,
// loss and gradients, and its parameters after 3 steps of SGD with momentum,
// SGD with Nesterov momentum, Adam and AdamW, all within 1e-5 relative; and,
// as the subtest CNN, a small convolutional network with batch norm and
// pooling (see checkGoldenCNN), in training and evaluation mode.
func CheckGolden(t *testing.T, b backend.Backend) {
	t.Run("CNN", func(t *testing.T) { checkGoldenCNN(t, b) })
	var g golden
	if err := json.Unmarshal(goldenJSON, &g); err != nil {
		t.Fatalf("golden.json: %v", err)
	}
	x, err := tensor.FromSlice(b, narrow(g.X), len(g.Labels), g.Sizes[0])
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]float32, len(g.Labels))
	for i, l := range g.Labels {
		labels[i] = float32(l)
	}
	y, err := tensor.FromSlice(b, labels, len(labels))
	if err != nil {
		t.Fatal(err)
	}
	data := func(x *tensor.Tensor) []float32 {
		v, err := x.Data()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	t.Run("ForwardBackward", func(t *testing.T) {
		net := goldenNet(t, b, &g)
		loss := nn.NewCrossEntropyLoss()
		out, err := net.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		matchGolden(t, "output", data(out), g.Output)
		l, err := loss.Forward(out, y)
		if err != nil {
			t.Fatal(err)
		}
		matchGolden(t, "loss", data(l), []float64{g.Loss})
		nn.ZeroGrad(net.Params())
		if _, err := net.Backward(x, loss.Backward()); err != nil {
			t.Fatal(err)
		}
		for _, p := range net.Params() {
			matchGolden(t, "gradient of "+p.Name, data(p.Grad), g.Grads[p.Name])
		}
	})

	optimizers := map[string]func() nn.Optimizer{
		"sgd_momentum": func() nn.Optimizer { return &nn.SGD{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01} },
		"sgd_nesterov": func() nn.Optimizer { return &nn.SGD{LR: 0.1, Momentum: 0.9, Nesterov: true} },
		"adam":         func() nn.Optimizer { o := nn.NewAdam(0.01); o.WeightDecay = 0.01; return o },
		"adamw":        func() nn.Optimizer { return nn.NewAdamW(0.01, 0.1) },
	}
	names := make([]string, 0, len(g.Steps))
	for name := range g.Steps {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := g.Steps[name]
		t.Run(name, func(t *testing.T) {
			make, ok := optimizers[name]
			if !ok {
				t.Fatalf("golden file has optimizer %q that the test does not know", name)
			}
			net, opt := goldenNet(t, b, &g), make()
			loss := nn.NewCrossEntropyLoss()
			for step := range want.Losses {
				l, err := nn.TrainStep(net, loss, opt, x, y)
				if err != nil {
					t.Fatal(err)
				}
				matchGolden(t, fmt.Sprintf("loss at step %d", step+1), data(l), want.Losses[step:step+1])
			}
			for _, p := range net.Params() {
				matchGolden(t, "after 3 steps, "+p.Name, data(p.Value), want.Params[p.Name])
			}
		})
	}
}
