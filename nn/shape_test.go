package nn_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// Spec writes every built-in layer exactly as package model's parser
// spells it.
func TestSpecs(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(1, 1))
	lin := func(in, out int, init nn.Init) *nn.Linear {
		l, err := nn.NewLinear(b, in, out, init, rng)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	drop, _ := nn.NewDropout(0.25, 1)
	noise, _ := nn.NewGaussianNoise(0.1, 1)
	cases := []struct {
		m    interface{ Spec() string }
		want string
	}{
		{lin(784, 176, nn.InitDefault), "linear(784,176)"},
		{lin(4, 3, nn.InitXavier), "linear(4,3,xavier)"},
		{lin(4, 3, nn.InitKaiming), "linear(4,3,kaiming)"},
		{nn.Tanh(), "tanh"}, {nn.Sigmoid(), "sigmoid"}, {nn.ReLU(), "relu"},
		{nn.LeakyReLU(0.01), "leakyrelu(0.01)"}, // float32(0.01) written back as 0.01, not 0.009999999776
		{nn.NewSoftmax(), "softmax"}, {nn.NewLogSoftmax(), "logsoftmax"},
		{drop, "dropout(0.25)"}, {noise, "gaussiannoise(0.1)"}, {nn.NewFlatten(), "flatten"},
	}
	for _, c := range cases {
		if got := c.m.Spec(); got != c.want {
			t.Errorf("Spec() = %q, want %q", got, c.want)
		}
	}
	enc := lin(5, 3, nn.InitDefault)
	dec, _ := nn.NewTiedLinear(enc, rng)
	if got, err := dec.SpecIn([]nn.Module{nn.Tanh(), enc, nn.ReLU()}); err != nil || got != "tied(1)" {
		t.Errorf("SpecIn = %q, %v; want tied(1)", got, err)
	}
	if _, err := dec.SpecIn([]nn.Module{lin(5, 3, nn.InitDefault)}); err == nil || !strings.Contains(err.Error(), "Linear(5, 3)") {
		t.Errorf("SpecIn without its encoder: error %v, want one naming the encoder", err)
	}
}

// OutputShape: per-sample shapes chain through a network; the first module
// that cannot take its input is named with its index and both shapes.
func TestOutputShapes(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(1, 1))
	l1, _ := nn.NewLinear(b, 784, 16, nn.InitDefault, rng)
	l2, _ := nn.NewLinear(b, 16, 10, nn.InitDefault, rng)
	dec, _ := nn.NewTiedLinear(l1, rng)
	drop, _ := nn.NewDropout(0.5, 1)
	noise, _ := nn.NewGaussianNoise(0.1, 1)
	net := nn.NewSequential(noise, nn.NewFlatten(), l1, nn.ReLU(), drop, l2, nn.NewLogSoftmax())
	got, err := nn.OutputShape(net, tensor.Shape{1, 28, 28})
	if err != nil || got.String() != "(10)" {
		t.Errorf("classifier on (1×28×28): %v, %v; want (10)", got, err)
	}
	ae := nn.NewSequential(l1, nn.Sigmoid(), dec)
	if got, err := nn.OutputShape(ae, tensor.Shape{1, 28, 28}); err != nil || got.String() != "(784)" {
		t.Errorf("tied autoencoder on (1×28×28): %v, %v; want (784)", got, err)
	}
	_, err = nn.OutputShape(nn.NewSequential(nn.Tanh(), l2), tensor.Shape{3, 5})
	want := "module 1 (Linear(16, 10)): input shape (3×5) has 15 values per sample, want (16)"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if _, err := nn.OutputShape(l1, tensor.Shape{1, 28, 27}); err == nil || !strings.Contains(err.Error(), "Linear(784, 16)") ||
		!strings.Contains(err.Error(), "(1×28×27)") || !strings.Contains(err.Error(), "(784)") {
		t.Errorf("Linear's error %q does not name the module and both shapes", err)
	}
}

// Linear reads an N-D input as (batch×volume): the output of a
// (2×1×2×3) input equals that of the same values as (2×6), and the input
// gradient has the input's shape.
func TestLinearNDInput(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(3, 3))
	l, _ := nn.NewLinear(b, 6, 4, nn.InitDefault, rng)
	vals := make([]float32, 12)
	for i := range vals {
		vals[i] = float32(rng.Float64()*2 - 1)
	}
	x4, _ := tensor.FromSlice(b, vals, 2, 1, 2, 3)
	x2, _ := tensor.FromSlice(b, vals, 2, 6)
	y4, err := l.Forward(x4)
	if err != nil {
		t.Fatal(err)
	}
	out4 := data(t, y4)
	if y4.Shape().String() != "(2×4)" {
		t.Errorf("output shape %v, want (2×4)", y4.Shape())
	}
	g, _ := tensor.FromSlice(b, []float32{1, -1, 0.5, 2, 0, 1, -2, 1}, 2, 4)
	dx4, err := l.Backward(x4, g)
	if err != nil {
		t.Fatal(err)
	}
	if err := tensor.SameShape("input gradient", dx4, x4); err != nil {
		t.Error(err)
	}
	d4 := data(t, dx4)
	y2, _ := l.Forward(x2)
	dx2, _ := l.Backward(x2, g)
	if !equal(out4, data(t, y2)) || !equal(d4, data(t, dx2)) {
		t.Error("a (2×1×2×3) input does not give what the same values as (2×6) give")
	}
	bad, _ := tensor.Zeros(b, 2, 1, 7)
	if _, err := l.Forward(bad); err == nil || !strings.Contains(err.Error(), "(2×1×7)") {
		t.Errorf("Forward of (2×1×7) into Linear(6, 4): error %v", err)
	}
}

// Flatten is a view: its output shares its input's buffer, its input
// gradient shares gradOut's, and a steady-state pass allocates nothing.
func TestFlattenIsAView(t *testing.T) {
	b := cpu.New()
	f := nn.NewFlatten()
	x, _ := tensor.Uniform(b, rand.New(rand.NewPCG(1, 1)), -1, 1, 3, 2, 1, 5)
	g, _ := tensor.Uniform(b, rand.New(rand.NewPCG(2, 1)), -1, 1, 3, 10)
	pass := func() (y, dx *tensor.Tensor) {
		y, err := f.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		if dx, err = f.Backward(x, g); err != nil {
			t.Fatal(err)
		}
		return y, dx
	}
	y, dx := pass()
	if y.Buffer() != x.Buffer() || y.Shape().String() != "(3×10)" {
		t.Fatalf("Flatten's output %v is not a (3×10) view of its input", y.Shape())
	}
	if dx.Buffer() != g.Buffer() || dx.Shape().String() != "(3×2×1×5)" {
		t.Fatalf("Flatten's input gradient %v is not a (3×2×1×5) view of gradOut", dx.Shape())
	}
	if n := testing.AllocsPerRun(10, func() { pass() }); n != 0 {
		t.Errorf("%.0f allocations per steady-state Flatten pass, want 0", n)
	}
	if _, err := f.Backward(x, x); err == nil {
		t.Error("Backward with a gradient of the input's shape accepted")
	}
}

// The same input tensor resized between passes (a last, smaller batch; a
// new per-sample shape) gets views of its new shape: Flatten's cached
// views follow the tensor, never the shape it had.
func TestFlattenFollowsAResizedInput(t *testing.T) {
	b := cpu.New()
	f := nn.NewFlatten()
	x, _ := tensor.Uniform(b, rand.New(rand.NewPCG(1, 1)), -1, 1, 4, 3, 2)
	g, _ := tensor.Uniform(b, rand.New(rand.NewPCG(2, 1)), -1, 1, 4, 6)
	for _, c := range []struct{ in, grad []int }{
		{[]int{4, 3, 2}, []int{4, 6}},
		{[]int{2, 3, 2}, []int{2, 6}},
		{[]int{3, 2, 2, 2}, []int{3, 8}},
		{[]int{24}, []int{24, 1}},
	} {
		if err := x.Resize(c.in...); err != nil {
			t.Fatal(err)
		}
		if err := g.Resize(c.grad...); err != nil {
			t.Fatal(err)
		}
		y, err := f.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		if want := tensor.Shape(c.grad).String(); y.Shape().String() != want {
			t.Errorf("Flatten of %v: %v, want %v", tensor.Shape(c.in), y.Shape(), want)
		}
		dx, err := f.Backward(x, g)
		if err != nil {
			t.Fatal(err)
		}
		if dx.Shape().String() != x.Shape().String() {
			t.Errorf("Flatten's input gradient for %v: %v", x.Shape(), dx.Shape())
		}
	}
}

// A Sequential written as a literal, or grown after NewSequential, runs
// and lists every module's parameters instead of panicking or training
// nothing.
func TestSequentialLiteralAndGrown(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(1, 1))
	l1, _ := nn.NewLinear(b, 3, 4, nn.InitDefault, rng)
	l2, _ := nn.NewLinear(b, 4, 2, nn.InitDefault, rng)
	x, _ := tensor.Uniform(b, rng, -1, 1, 5, 3)
	lit := &nn.Sequential{Modules: []nn.Module{l1, nn.Tanh()}}
	grown := nn.NewSequential(l1, nn.Tanh())
	grown.Modules = append(grown.Modules, l2)
	for _, c := range []struct {
		name   string
		s      *nn.Sequential
		params []string
	}{
		{"literal", lit, []string{"0.weight", "0.bias"}},
		{"grown", grown, []string{"0.weight", "0.bias", "2.weight", "2.bias"}},
	} {
		var names []string
		for _, p := range c.s.Params() {
			names = append(names, p.Name)
		}
		if strings.Join(names, " ") != strings.Join(c.params, " ") {
			t.Errorf("%s: Params %v, want %v", c.name, names, c.params)
		}
		y, err := c.s.Forward(x)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, err := c.s.Backward(x, y); err != nil {
			t.Fatalf("%s: Backward: %v", c.name, err)
		}
	}
}
