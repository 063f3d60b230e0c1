package nn_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/nn/nntest"
	"github.com/diynn/diynn/tensor"
)

func TestBatchNormSpecsAndBuffers(t *testing.T) {
	b := cpu.New()
	bn2 := must(nn.NewBatchNorm2D(b, 32))
	bn1 := must(nn.NewBatchNorm1D(b, 7))
	bn1.Eps, bn1.Momentum = 1e-3, 0.01
	for _, c := range []struct{ got, want string }{
		{bn2.Spec(), "batchnorm2d(32)"}, {bn2.String(), "BatchNorm2D(32)"},
		{bn1.Spec(), "batchnorm1d(7,eps=0.001,momentum=0.01)"}, {bn1.String(), "BatchNorm1D(7, eps=0.001, momentum=0.01)"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	var names []string
	for _, p := range append(bn2.Params(), nn.Buffers(bn2)...) {
		names = append(names, p.Name)
		v := must(p.Value.Data())
		if p.Name == "running_var" || p.Name == "weight" {
			if v[0] != 1 || v[31] != 1 {
				t.Errorf("%s starts at %v, want ones", p.Name, v[0])
			}
		} else if v[0] != 0 {
			t.Errorf("%s starts at %v, want zeros", p.Name, v[0])
		}
	}
	if want := []string{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}; !slices.Equal(names, want) {
		t.Errorf("names %v, want PyTorch's %v", names, want)
	}
	for _, p := range nn.Buffers(bn2) {
		if p.Grad != nil {
			t.Errorf("buffer %s has a gradient", p.Name)
		}
	}
	if n := nn.Buffers(nn.NewSequential(nn.ReLU(), bn2))[2]; n.Name != "1.num_batches_tracked" || n.Value.Len() != 1 {
		t.Errorf("in a Sequential: %s of %d values, want 1.num_batches_tracked of 1", n.Name, n.Value.Len())
	}
}

func TestBatchNormShapeErrors(t *testing.T) {
	b := cpu.New()
	bn2 := must(nn.NewBatchNorm2D(b, 3))
	bn1 := must(nn.NewBatchNorm1D(b, 4))
	for _, c := range []struct {
		bn    *nn.BatchNorm
		in    tensor.Shape
		wants []string
	}{
		{bn2, tensor.Shape{4, 5, 5}, []string{"BatchNorm2D(3)", "(4×5×5)", "(3×H×W)"}},
		{bn2, tensor.Shape{3, 25}, []string{"BatchNorm2D(3)", "(3×25)"}},
		{bn1, tensor.Shape{4, 2, 2}, []string{"BatchNorm1D(4)", "(4×2×2)", "(4×L)"}},
		{bn1, tensor.Shape{5}, []string{"BatchNorm1D(4)", "(5)"}},
	} {
		_, err := c.bn.OutputShape(c.in)
		x := must(tensor.Zeros(b, append([]int{2}, c.in...)...))
		_, ferr := c.bn.Forward(x)
		for _, e := range []error{err, ferr} {
			if e == nil {
				t.Errorf("%v on %v: no error", c.bn, c.in)
				continue
			}
			for _, w := range c.wants[:1] {
				if !strings.Contains(e.Error(), w) {
					t.Errorf("error %q does not mention %q", e, w)
				}
			}
		}
		if err != nil {
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		}
	}
	// One value per channel has no variance: PyTorch refuses it in
	// training, and accepts it in evaluation.
	one := must(tensor.Zeros(b, 1, 4))
	if _, err := bn1.Forward(one); err == nil || !strings.Contains(err.Error(), "more than one value per channel") {
		t.Errorf("training on a batch of one: error %v", err)
	}
	bn1.SetTraining(false)
	if _, err := bn1.Forward(one); err != nil {
		t.Errorf("evaluating a batch of one: %v", err)
	}
	if _, err := nn.NewBatchNorm1D(b, 0); err == nil || !strings.Contains(err.Error(), "BatchNorm1D(0)") {
		t.Error("BatchNorm1D(0) accepted")
	}
}

// The gradient checker runs hundreds of training-mode Forward passes; it
// must leave the running statistics as it found them.
func TestCheckKeepsRunningStatistics(t *testing.T) {
	b := cpu.New()
	bn := must(nn.NewBatchNorm2D(b, 2))
	x := must(tensor.Uniform(b, rand.New(rand.NewPCG(1, 1)), 3, 5, 4, 2, 3, 3))
	if _, err := bn.Forward(x); err != nil { // away from the initial 0 and 1
		t.Fatal(err)
	}
	var before [][]float32
	for _, p := range bn.Buffers() {
		before = append(before, must(p.Value.Data()))
	}
	nntest.CheckModule(t, b, bn, 3, 2, 3, 3)
	for i, p := range bn.Buffers() {
		if got := must(p.Value.Data()); !slices.Equal(got, before[i]) {
			t.Errorf("%s is %v after the check, was %v", p.Name, got, before[i])
		}
	}
}

// Backward follows the Forward it belongs to: a mode switch in between
// does not make a training pass's gradient use the running statistics.
func TestBatchNormModeSwitchBetweenPasses(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(2, 2))
	x := must(tensor.Uniform(b, rng, -2, 2, 5, 3))
	dy := must(tensor.Uniform(b, rng, -1, 1, 5, 3))
	grad := func(switchMode bool) []float32 {
		bn := must(nn.NewBatchNorm1D(b, 3))
		must(bn.Forward(x))
		if switchMode {
			bn.SetTraining(false)
		}
		return must(must(bn.Backward(x, dy)).Data())
	}
	if a, c := grad(false), grad(true); !slices.Equal(a, c) {
		t.Errorf("input gradient %v after a mode switch, %v without", c, a)
	}
}
