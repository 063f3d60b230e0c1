package nntest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// goldenCNNJSON is written by testdata/golden_cnn.py with PyTorch; the
// script's docstring describes the network and what the file holds.
//
//go:embed testdata/golden_cnn.json
var goldenCNNJSON []byte

type goldenCNN struct {
	X              []float64            `json:"x"`
	XShape         []int                `json:"x_shape"`
	Labels         []int                `json:"labels"`
	Params         map[string][]float64 `json:"params"`
	InitialBuffers map[string][]float64 `json:"initial_buffers"`
	Output         []float64            `json:"output"`
	Loss           float64              `json:"loss"`
	Grads          map[string][]float64 `json:"grads"`
	Buffers        map[string][]float64 `json:"buffers"`
	Steps          map[string]struct {
		Losses     []float64            `json:"losses"`
		Params     map[string][]float64 `json:"params"`
		Buffers    map[string][]float64 `json:"buffers"`
		EvalOutput []float64            `json:"eval_output"`
		EvalLoss   float64              `json:"eval_loss"`
		EvalGrads  map[string][]float64 `json:"eval_grads"`
	} `json:"steps"`
}

// goldenCNNNet builds the golden CNN on b, the same nn.Sequential as the
// script's, with PyTorch's initial weights. The running statistics are left
// at diynn's defaults, which the test compares with PyTorch's.
func goldenCNNNet(t *testing.T, b backend.Backend, g *goldenCNN) *nn.Sequential {
	t.Helper()
	rng := rand.New(rand.NewPCG(0, 0)) // overwritten below
	must := func(m nn.Module, err error) nn.Module {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	net := nn.NewSequential(
		must(nn.NewConv2D(b, 1, 4, 3, 1, 1, false, rng)),
		must(nn.NewBatchNorm2D(b, 4)),
		nn.ReLU(),
		must(nn.NewMaxPool2D(2, 0, 0)),
		must(nn.NewConv2D(b, 4, 5, 3, 2, 1, true, rng)),
		nn.ReLU(),
		nn.NewFlatten(),
		must(nn.NewLinear(b, 20, 3, nn.InitDefault, rng)),
	)
	if len(net.Params()) != len(g.Params) {
		t.Fatalf("the network has %d parameters, golden_cnn.json %d", len(net.Params()), len(g.Params))
	}
	for _, p := range net.Params() {
		v, ok := g.Params[p.Name]
		if !ok {
			t.Fatalf("golden_cnn.json has no parameter %q", p.Name)
		}
		if err := p.Value.Set(narrow(v)); err != nil {
			t.Fatalf("parameter %s: %v", p.Name, err)
		}
	}
	return net
}

// matchAll matches every tensor of ps (parameters, their gradients when
// grad is set, or buffers) with the golden tensors of the same names, and
// refuses a golden file that names a tensor the network does not have.
func matchAll(t *testing.T, what string, ps []nn.Param, grad bool, want map[string][]float64, data func(*tensor.Tensor) []float32) {
	t.Helper()
	if len(ps) != len(want) {
		t.Errorf("%s: the network has %d tensors, PyTorch %d", what, len(ps), len(want))
	}
	for _, p := range ps {
		w, ok := want[p.Name]
		if !ok {
			t.Errorf("%s: golden_cnn.json has no %q", what, p.Name)
			continue
		}
		v := p.Value
		if grad {
			v = p.Grad
		}
		matchGolden(t, what+" "+p.Name, data(v), w)
	}
}

// checkGoldenCNN is CheckGolden's CNN case: conv (no bias, padding 1),
// batch norm, ReLU, max pooling over odd sizes, conv (stride 2, padding 1),
// ReLU, flatten and linear on 3 images of 1×7×9. It matches PyTorch's
// output, loss, gradients and running statistics of one training-mode
// pass; then, for Adam and SGD with momentum, the losses of 3 steps, the
// parameters and running statistics after them, and an evaluation-mode
// pass (running statistics) with its output, loss and gradients.
func checkGoldenCNN(t *testing.T, b backend.Backend) {
	var g goldenCNN
	if err := json.Unmarshal(goldenCNNJSON, &g); err != nil {
		t.Fatalf("golden_cnn.json: %v", err)
	}
	x, err := tensor.FromSlice(b, narrow(g.X), g.XShape...)
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
		t.Helper()
		v, err := x.Data()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	t.Run("ForwardBackward", func(t *testing.T) {
		net := goldenCNNNet(t, b, &g)
		matchAll(t, "initial buffer", nn.Buffers(net), false, g.InitialBuffers, data)
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
		matchAll(t, "gradient of", net.Params(), true, g.Grads, data)
		matchAll(t, "after one forward pass, buffer", nn.Buffers(net), false, g.Buffers, data)
	})

	optimizers := map[string]func() nn.Optimizer{
		"adam":         func() nn.Optimizer { return nn.NewAdam(0.01) },
		"sgd_momentum": func() nn.Optimizer { return &nn.SGD{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01} },
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
				t.Fatalf("golden_cnn.json has optimizer %q that the test does not know", name)
			}
			net, opt := goldenCNNNet(t, b, &g), make()
			loss := nn.NewCrossEntropyLoss()
			for step := range want.Losses {
				l, err := nn.TrainStep(net, loss, opt, x, y)
				if err != nil {
					t.Fatal(err)
				}
				matchGolden(t, fmt.Sprintf("loss at step %d", step+1), data(l), want.Losses[step:step+1])
			}
			matchAll(t, "after 3 steps,", net.Params(), false, want.Params, data)
			matchAll(t, "after 3 steps, buffer", nn.Buffers(net), false, want.Buffers, data)

			nn.SetTraining(net, false)
			out, err := net.Forward(x)
			if err != nil {
				t.Fatal(err)
			}
			matchGolden(t, "evaluation-mode output", data(out), want.EvalOutput)
			l, err := loss.Forward(out, y)
			if err != nil {
				t.Fatal(err)
			}
			matchGolden(t, "evaluation-mode loss", data(l), []float64{want.EvalLoss})
			nn.ZeroGrad(net.Params())
			if _, err := net.Backward(x, loss.Backward()); err != nil {
				t.Fatal(err)
			}
			matchAll(t, "evaluation-mode gradient of", net.Params(), true, want.EvalGrads, data)
			// An evaluation pass must leave the running statistics alone.
			matchAll(t, "after the evaluation pass, buffer", nn.Buffers(net), false, want.Buffers, data)
		})
	}
}
