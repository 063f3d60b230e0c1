package nn_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

type specModule interface {
	nn.Module
	nn.Shaper
	Spec() string
	String() string
}

// must returns v, or panics (failing the test) on an error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The spec strings are what package model parses: exact text, defaults
// left out, arguments in a fixed order.
func TestConvSpecsAndShapes(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		m          specModule
		spec, name string
		in, want   tensor.Shape
	}{
		{must(nn.NewConv2D(b, 1, 32, 3, 1, 1, true, rng)), "conv(1,32,3,pad=1)", "Conv2D(1, 32, 3, pad=1)", tensor.Shape{1, 28, 28}, tensor.Shape{32, 28, 28}},
		{must(nn.NewConv2D(b, 3, 8, 5, 2, 0, false, rng)), "conv(3,8,5,stride=2,bias=false)", "Conv2D(3, 8, 5, stride=2, bias=false)", tensor.Shape{3, 11, 12}, tensor.Shape{8, 4, 4}},
		{must(nn.NewConv2D(b, 2, 4, 3, 2, 1, false, rng)), "conv(2,4,3,stride=2,pad=1,bias=false)", "Conv2D(2, 4, 3, stride=2, pad=1, bias=false)", tensor.Shape{2, 7, 7}, tensor.Shape{4, 4, 4}},
		{must(nn.NewConvTranspose2D(b, 32, 16, 3, 2, 1, 1, true, rng)), "convtranspose(32,16,3,stride=2,pad=1,outpad=1)", "ConvTranspose2D(32, 16, 3, stride=2, pad=1, outpad=1)", tensor.Shape{32, 7, 7}, tensor.Shape{16, 14, 14}},
		{must(nn.NewConvTranspose2D(b, 4, 1, 2, 1, 0, 0, false, rng)), "convtranspose(4,1,2,bias=false)", "ConvTranspose2D(4, 1, 2, bias=false)", tensor.Shape{4, 5, 3}, tensor.Shape{1, 6, 4}},
		{must(nn.NewMaxPool2D(2, 0, 0)), "maxpool(2)", "MaxPool2D(2)", tensor.Shape{32, 28, 28}, tensor.Shape{32, 14, 14}},
		{must(nn.NewMaxPool2D(3, 2, 1)), "maxpool(3,stride=2,pad=1)", "MaxPool2D(3, stride=2, pad=1)", tensor.Shape{4, 7, 6}, tensor.Shape{4, 4, 3}},
		{must(nn.NewMaxPool2D(2, 2, 0)), "maxpool(2)", "MaxPool2D(2)", tensor.Shape{1, 5, 5}, tensor.Shape{1, 2, 2}},
		{must(nn.NewAvgPool2D(2, 1, 0)), "avgpool(2,stride=1)", "AvgPool2D(2, stride=1)", tensor.Shape{3, 5, 4}, tensor.Shape{3, 4, 3}},
		{must(nn.NewAvgPool2D(3, 0, 1)), "avgpool(3,pad=1)", "AvgPool2D(3, pad=1)", tensor.Shape{2, 7, 7}, tensor.Shape{2, 3, 3}},
		{nn.NewGlobalAvgPool(), "globalavgpool", "GlobalAvgPool", tensor.Shape{64, 7, 7}, tensor.Shape{64}},
		{must(nn.NewReshape(1, 28, 28)), "reshape(1,28,28)", "Reshape(1×28×28)", tensor.Shape{784}, tensor.Shape{1, 28, 28}},
	}
	for _, c := range cases {
		if got := c.m.Spec(); got != c.spec {
			t.Errorf("%s: Spec() = %q, want %q", c.name, got, c.spec)
		}
		if got := c.m.String(); got != c.name {
			t.Errorf("String() = %q, want %q", got, c.name)
		}
		got, err := c.m.OutputShape(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: OutputShape(%v) = %v, %v; want %v", c.name, c.in, got, err, c.want)
		}
	}
}

// Shape errors name the module and the shapes, from OutputShape (before
// building) and from Forward alike.
func TestConvShapeErrors(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(1, 3))
	conv := must(nn.NewConv2D(b, 3, 8, 5, 1, 0, true, rng))
	convT := must(nn.NewConvTranspose2D(b, 2, 3, 3, 1, 2, 0, true, rng))
	pool := must(nn.NewMaxPool2D(3, 0, 0))
	reshape := must(nn.NewReshape(2, 3))
	for _, c := range []struct {
		m     specModule
		in    tensor.Shape
		wants []string
	}{
		{conv, tensor.Shape{1, 28, 28}, []string{"Conv2D(3, 8, 5)", "(1×28×28)", "(3×H×W)"}},
		{conv, tensor.Shape{3, 4, 9}, []string{"Conv2D(3, 8, 5)", "(3×4×9)", "KH = 5"}},
		{conv, tensor.Shape{784}, []string{"Conv2D(3, 8, 5)", "(784)"}},
		{convT, tensor.Shape{2, 1, 1}, []string{"ConvTranspose2D(2, 3, 3, pad=2)", "(2×1×1)", "-1×-1"}},
		{pool, tensor.Shape{4, 2, 5}, []string{"MaxPool2D(3)", "(4×2×5)"}},
		{reshape, tensor.Shape{7}, []string{"Reshape(2×3)", "(7)", "7 values", "6"}},
		{nn.NewGlobalAvgPool(), tensor.Shape{7, 7}, []string{"GlobalAvgPool", "(7×7)"}},
	} {
		_, err := c.m.OutputShape(c.in)
		if err == nil {
			t.Errorf("%v: OutputShape(%v) gave no error", c.m, c.in)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("OutputShape(%v): error %q does not mention %q", c.in, err, w)
			}
		}
		x := must(tensor.Zeros(b, append([]int{2}, c.in...)...))
		if _, err := c.m.Forward(x); err == nil || !strings.Contains(err.Error(), c.wants[0]) || !strings.Contains(err.Error(), x.Shape().String()) {
			t.Errorf("%v: Forward(%v): error %v, want one naming the module and the shape", c.m, x.Shape(), err)
		}
	}
	for _, bad := range []func() error{
		func() error { _, err := nn.NewConv2D(b, 0, 1, 3, 1, 0, true, rng); return err },
		func() error { _, err := nn.NewConv2D(b, 1, 1, 3, 0, 0, true, rng); return err },
		func() error { _, err := nn.NewConvTranspose2D(b, 1, 1, 3, 2, 0, 2, true, rng); return err },
		func() error { _, err := nn.NewMaxPool2D(2, 0, 2); return err },
		func() error { _, err := nn.NewAvgPool2D(0, 0, 0); return err },
		func() error { _, err := nn.NewReshape(2, 0); return err },
		func() error { _, err := nn.NewReshape(); return err },
	} {
		if bad() == nil {
			t.Error("a constructor accepted invalid arguments")
		}
	}
}

// The parameters start as PyTorch's: uniform in ±1/√fan_in, with fan_in =
// in·k·k for Conv2D and out·k·k for ConvTranspose2D (PyTorch computes it
// from weight.size(1)), weight and bias alike, in PyTorch's layouts.
func TestConvInit(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(4, 4))
	conv := must(nn.NewConv2D(b, 6, 16, 5, 1, 0, true, rng))
	convT := must(nn.NewConvTranspose2D(b, 16, 3, 4, 2, 1, 0, true, rng))
	for _, c := range []struct {
		name    string
		w, bias nn.Param
		shape   tensor.Shape
		bound   float64
	}{
		{"Conv2D", conv.W, conv.B, tensor.Shape{16, 6, 5, 5}, 1 / math.Sqrt(6*25)},
		{"ConvTranspose2D", convT.W, convT.B, tensor.Shape{16, 3, 4, 4}, 1 / math.Sqrt(3*16)},
	} {
		if !slices.Equal(c.w.Value.Shape(), c.shape) || c.w.Name != "weight" || c.bias.Name != "bias" {
			t.Errorf("%s: weight %q %v, bias %q; want weight %v", c.name, c.w.Name, c.w.Value.Shape(), c.bias.Name, c.shape)
		}
		for _, p := range []nn.Param{c.w, c.bias} {
			v := must(p.Value.Data())
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, f := range v {
				lo, hi = math.Min(lo, float64(f)), math.Max(hi, float64(f))
			}
			// The extremes of n uniform values lie within ~bound·2/n of
			// the bounds; a wrong fan-in moves them by a factor of 2 or more.
			if lo < -c.bound || hi > c.bound || (len(v) >= 48 && (lo > -0.8*c.bound || hi < 0.8*c.bound)) {
				t.Errorf("%s %s: values in [%.4f, %.4f], want to fill ±%.4f", c.name, p.Name, lo, hi, c.bound)
			}
		}
	}
	noBias := must(nn.NewConv2D(b, 1, 2, 3, 1, 0, false, rng))
	if ps := noBias.Params(); len(ps) != 1 || ps[0].Name != "weight" {
		t.Errorf("Conv2D without bias lists %d parameters, want the weight alone", len(ps))
	}
}

// A layer sized for one batch serves a smaller one (the last batch of an
// epoch) and a larger one again, with the right output shape.
func TestConvBatchSizeChanges(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(5, 5))
	conv := must(nn.NewConv2D(b, 2, 3, 3, 2, 1, true, rng))
	ref := must(nn.NewConv2D(b, 2, 3, 3, 2, 1, true, rng))
	ref.W.Value.Set(must(conv.W.Value.Data()))
	ref.B.Value.Set(must(conv.B.Value.Data()))
	for _, n := range []int{4, 1, 3} {
		x := must(tensor.Uniform(b, rng, -1, 1, n, 2, 5, 6))
		got := must(must(conv.Forward(x)).Data())
		fresh := must(nn.NewConv2D(b, 2, 3, 3, 2, 1, true, rng))
		fresh.W, fresh.B = conv.W, conv.B
		want := must(must(fresh.Forward(x)).Data())
		if !slices.Equal(got, want) {
			t.Errorf("batch %d after other batch sizes: output differs from a fresh layer's", n)
		}
	}
}
