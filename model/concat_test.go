package model

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// jointSpec is issue 15's joint autoencoder: one encoder, a decoder tied to
// it and a classifier, both on the 30-value code.
const jointSpec = "linear(784,264) leakyrelu(0.01) linear(264,88) leakyrelu(0.01) linear(88,30) " +
	"concat[tied(4) leakyrelu(0.01) tied(2) leakyrelu(0.01) tied(0) sigmoid | linear(30,10)]"

// Specs with heads parse to their canonical form, which parses back to
// itself; spaces around | and brackets do not matter, and heads nest.
func TestConcatParseFormat(t *testing.T) {
	for _, c := range []struct{ spec, canonical string }{
		{jointSpec, jointSpec},
		{"linear(4,3) concat[tied(0)|linear(3,2)]", "linear(4,3) concat[tied(0) | linear(3,2)]"},
		{"Linear(4,3)  Concat[ Tied( 0 )  Sigmoid |linear(3,2,default)|relu ] softmax",
			"linear(4,3) concat[tied(0) sigmoid | linear(3,2) | relu] softmax"},
		{"concat[linear(3,2) | concat[tanh|linear(3,1)] relu] tanh", "concat[linear(3,2) | concat[tanh | linear(3,1)] relu] tanh"},
		{"concat[\tconv(1,2,3,pad=1,bias=true)\n|maxpool(2,stride=2)]", "concat[conv(1,2,3,pad=1) | maxpool(2)]"},
	} {
		layers, err := Parse(c.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.spec, err)
			continue
		}
		got := Format(layers)
		if got != c.canonical {
			t.Errorf("Format(Parse(%q)) = %q, want %q", c.spec, got, c.canonical)
		}
		again, err := Parse(got)
		if err != nil || Format(again) != got {
			t.Errorf("Parse(%q) = %q, %v: the canonical form does not round-trip", got, Format(again), err)
		}
	}
	// The heads are layers of their own, with positions in the whole spec.
	layers, err := Parse("linear(4,3) concat[tied(0) sigmoid | linear(3,2)]")
	if err != nil {
		t.Fatal(err)
	}
	c := layers[1]
	if c.Kind != "concat" || len(c.Heads) != 2 || len(c.Heads[0]) != 2 || len(c.Heads[1]) != 1 {
		t.Fatalf("heads %+v", c.Heads)
	}
	if c.Heads[0][1].Kind != "sigmoid" || c.Heads[0][1].Pos != 27 || c.Heads[1][0].Pos != 37 || c.Heads[1][0].ArgPos[1] != 46 {
		t.Errorf("head layers %+v: want sigmoid at 27, linear at 37 (its OUT at 46)", c.Heads)
	}
}

// Malformed heads are refused at the column of the mistake, in the whole
// spec: brackets, empty heads, heads where a layer takes none, too few
// heads, layers and arguments inside a head.
func TestConcatParseErrors(t *testing.T) {
	for _, c := range []struct {
		spec   string
		column int
		want   string
	}{
		{"linear(4,3) concat[tied(0) | linear(3,2)", 19, "unclosed '['"},
		{"concat[relu | concat[tanh | relu] relu", 7, "unclosed '['"},
		{"concat[relu | concat[tanh | relu relu]", 7, "unclosed '['"},
		{"concat[", 7, "unclosed '['"},
		{"concat[]", 8, "empty head"},
		{"concat[relu | ]", 15, "empty head"},
		{"concat[ | relu]", 9, "empty head"},
		{"concat[relu || relu]", 14, "empty head"},
		{"linear(4,3) relu[tanh | relu]", 17, "relu takes no heads"},
		{"linear(4,3)[tanh | relu]", 12, "linear takes no heads"},
		{"linear(4,3) concat", 13, "concat takes 2 heads or more in brackets, got 0"},
		{"linear(4,3) concat relu", 13, "concat takes 2 heads or more in brackets, got 0"},
		{"linear(4,3) concat[relu]", 13, "concat takes 2 heads or more in brackets, got 1"},
		{"concat(2)[relu | tanh]", 1, "concat takes 0 arguments, got 1"},
		{"linear(4,3) concat[relu | tanhh]", 27, `unknown layer "tanhh"`},
		{"linear(4,3) concat[relu | concat[tanh | sigmoidd] ]", 41, `unknown layer "sigmoidd"`},
		{"linear(4,3) concat[relu | linear(3,x)]", 36, `"x" is not a number`},
		{"linear(4,3) concat[relu | linear(3,2,he)]", 38, "init"},
		{"linear(4,3) concat[linear(3,2 | relu]", 26, "unclosed '('"},
		{"linear(4,3) concat[relu|tanh]relu", 30, "expected a space between layers"},
		{"linear(4,3) concat[relu tanh(]", 29, "unclosed '('"},
		{"linear(4,3) ] relu", 13, "expected a layer name"},
		{"linear(4,3) relu]", 17, "expected a space between layers"},
		{"linear(4,3) relu | tanh", 18, "expected a layer name"},
	} {
		_, err := Parse(c.spec)
		var se *SpecError
		if !errors.As(err, &se) || se.Pos+1 != c.column || !strings.Contains(se.Msg, c.want) {
			t.Errorf("Parse(%q): %v\nwant column %d: %s", c.spec, err, c.column, c.want)
		}
	}
}

// The joint autoencoder plans as PyTorch names a module holding its heads
// as children "0" and "1", each an nn.Sequential; its output is the
// reconstruction's 784 values and the 10 class scores.
func TestConcatPlan(t *testing.T) {
	p, err := NewPlan(jointSpec)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ps := range p.Params {
		names = append(names, ps.Name)
	}
	want := []string{"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "5.0.0.bias", "5.0.2.bias", "5.0.4.bias", "5.1.0.weight", "5.1.0.bias"}
	if !slices.Equal(names, want) {
		t.Errorf("params %q, want %q", names, want)
	}
	shapes := [][]int{{264, 784}, {264}, {88, 264}, {88}, {30, 88}, {30}, {88}, {264}, {784}, {10, 30}, {10}}
	for i, ps := range p.Params {
		if i < len(shapes) && !slices.Equal(ps.Shape, shapes[i]) {
			t.Errorf("%s has shape %v, want %v", ps.Name, ps.Shape, shapes[i])
		}
	}
	if p.Inputs() != 784 || p.Outputs() != 794 || !slices.Equal(p.OutputShape(), tensor.Shape{794}) || p.Widths[5] != 30 {
		t.Errorf("plan %v → %v, widths %v", p.InputShape(), p.OutputShape(), p.Widths)
	}
	if n := p.NumParams(); n != 264*784+264+88*264+88+30*88+30+88+264+784+10*30+10 {
		t.Errorf("%d parameters", n)
	}

	// Buffers of a head are prefixed as its parameters are; heads nest; a
	// head's output of any shape counts by its values; a spec may start
	// with a concat, whose first head that implies one gives the input.
	for _, c := range []struct {
		spec            string
		in              tensor.Shape
		out             tensor.Shape
		params, buffers []string
	}{
		{"linear(6,4) concat[batchnorm1d(4) tied(0) | relu] tanh", nil, tensor.Shape{10},
			[]string{"0.weight", "0.bias", "1.0.0.weight", "1.0.0.bias", "1.0.1.bias"},
			[]string{"1.0.0.running_mean", "1.0.0.running_var", "1.0.0.num_batches_tracked"}},
		{"linear(5,4) concat[linear(4,2) | linear(4,3) concat[relu | tied(0)] linear(7,1)]", nil, tensor.Shape{3},
			[]string{"0.weight", "0.bias", "1.0.0.weight", "1.0.0.bias", "1.1.0.weight", "1.1.0.bias", "1.1.1.1.0.bias", "1.1.2.weight", "1.1.2.bias"}, nil},
		{"concat[tanh | reshape(2,3)]", nil, tensor.Shape{12}, nil, nil},
		{"conv(1,2,3) concat[maxpool(2) | flatten]", tensor.Shape{1, 6, 6}, tensor.Shape{2*2*2 + 2*4*4},
			[]string{"0.weight", "0.bias"}, nil},
	} {
		var p *Plan
		var err error
		if c.in == nil {
			p, err = NewPlan(c.spec)
		} else {
			p, err = NewPlanFor(c.spec, c.in)
		}
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		var params, buffers []string
		for _, ps := range p.Params {
			params = append(params, ps.Name)
		}
		for _, bs := range p.Buffers {
			buffers = append(buffers, bs.Name)
		}
		if !slices.Equal(p.OutputShape(), c.out) || !slices.Equal(params, c.params) || !slices.Equal(buffers, c.buffers) {
			t.Errorf("%q: output %v, params %q, buffers %q; want %v, %q, %q", c.spec, p.OutputShape(), params, buffers, c.out, c.params, c.buffers)
		}
	}
}

// A spec whose heads do not fit is refused at the column of the layer at
// fault, inside the head: shapes, and tied decoders, which in a head name
// a linear layer of the spec that holds the concat, before it.
func TestConcatPlanErrors(t *testing.T) {
	for _, c := range []struct {
		spec   string
		column int
		want   string
	}{
		{"linear(4,3) concat[relu | linear(4,2)]", 27, "linear(4,2) takes 4 inputs but the head's input (that of concat) has 3"},
		{"linear(4,3) concat[relu linear(4,2) | relu]", 25, "linear(4,2) takes 4 inputs but the layer before gives 3"},
		{"linear(4,3) concat[tanh | relu tied(0) linear(3,1)]", 40, "linear(3,1) takes 3 inputs but the layer before gives 4"},
		{"linear(4,3) concat[linear(3,3) | linear(3,3) tied(1)]", 46, "a head's own layers cannot be tied to"},
		{"linear(4,3) concat[linear(3,3) tied(0) | tied(1)]", 42, "tied(1) in a head of concat names layer 1 of the spec that holds the concat, which must be a linear layer before it"},
		{"linear(4,3) relu concat[tied(1) | relu]", 25, "must be a linear layer before it"},
		{"linear(4,3) linear(3,2) concat[tied(0) | relu]", 32, "tied(0) takes 3 inputs (the outputs of linear(4,3)) but the head's input (that of concat) has 2"},
		// In a nested head, tied counts the layers of the head that holds
		// the inner concat.
		{"linear(4,3) concat[relu | relu concat[tied(0) | relu]]", 39, "tied(0) in a head of concat names layer 0"},
		{"concat[linear(3,3) | relu] tied(0)", 28, "tied(0) must name an earlier linear layer"},
		{"tanh concat[linear(4,2) | linear(4,3)] linear(5,2)", 1, "no linear layer"}, // (not reached: see below)
		{"concat[conv(1,2,3) | relu]", 8, "does not fix the input's shape"},
		{"concat[tanh | relu]", 1, "no linear layer"},
	} {
		if c.spec == "tanh concat[linear(4,2) | linear(4,3)] linear(5,2)" {
			// The input is the first head's linear's, (4): tanh keeps it.
			if p, err := NewPlan(c.spec); err != nil || !slices.Equal(p.InputShape(), tensor.Shape{4}) || p.Outputs() != 2 {
				t.Errorf("NewPlan(%q): %v", c.spec, err)
			}
			continue
		}
		_, err := NewPlan(c.spec)
		var se *SpecError
		if !errors.As(err, &se) || se.Pos+1 != c.column || !strings.Contains(se.Msg, c.want) {
			t.Errorf("NewPlan(%q): %v\nwant column %d: %s", c.spec, err, c.column, c.want)
		}
	}
}

// jointRef computes "linear(5,3) tanh concat[tied(0) sigmoid | linear(3,2)]"
// in float64 from the parameter values: W (3×5), b (3), the decoder's
// bias c (5), V (2×3), d (2); a sample's 5 reconstructed values, then its
// 2 scores.
func jointRef(x []float32, rows int, W, b, c, V, d []float32) []float64 {
	var out []float64
	for r := range rows {
		h := make([]float64, 3)
		for j := range 3 {
			s := float64(b[j])
			for k := range 5 {
				s += float64(W[j*5+k]) * float64(x[r*5+k])
			}
			h[j] = math.Tanh(s)
		}
		for k := range 5 { // hᵀ·W: the encoder's weight, transposed
			s := float64(c[k])
			for j := range 3 {
				s += h[j] * float64(W[j*5+k])
			}
			out = append(out, 1/(1+math.Exp(-s)))
		}
		for i := range 2 {
			s := float64(d[i])
			for j := range 3 {
				s += float64(V[i*3+j]) * h[j]
			}
			out = append(out, s)
		}
	}
	return out
}

func data(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	v, err := x.Data()
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(v)
}

// Build makes an nn.Concat of Sequentials whose decoder shares the
// encoder's weight: the joint autoencoder gives batch×794, and a small one
// the values of a float64 reference, reconstruction first.
func TestConcatBuild(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(15, 4))
	m, err := Build(b, jointSpec, rng)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := m.Net.Modules[5].(*nn.Concat)
	if !ok || len(c.Heads) != 2 {
		t.Fatalf("module 5 is %T", m.Net.Modules[5])
	}
	dec, ok := c.Heads[0].(*nn.Sequential).Modules[4].(*nn.TiedLinear)
	if !ok || dec.Enc != m.Net.Modules[0] {
		t.Errorf("the last decoder layer is %T, tied to %p, not to module 0", c.Heads[0].(*nn.Sequential).Modules[4], dec.Enc)
	}
	for _, rows := range []int{1, 7} {
		x := mustData(t, b, rng, rows, 784)
		y, err := m.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(y.Shape(), tensor.Shape{rows, 794}) {
			t.Errorf("batch of %d: output %v, want %d×794", rows, y.Shape(), rows)
		}
	}

	m, err = Build(b, "linear(5,3) tanh concat[tied(0) sigmoid | linear(3,2)]", rng)
	if err != nil {
		t.Fatal(err)
	}
	const rows = 7
	x := mustData(t, b, rng, rows, 5)
	y, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	ps := m.Params()
	want := jointRef(data(t, x), rows, data(t, ps[0].Value), data(t, ps[1].Value), data(t, ps[2].Value), data(t, ps[3].Value), data(t, ps[4].Value))
	got := data(t, y)
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5 {
			t.Fatalf("output[%d][%d] = %g, the reference %g", i/7, i%7, got[i], want[i])
		}
	}
}

func mustData(t *testing.T, b backend.Backend, rng *rand.Rand, shape ...int) *tensor.Tensor {
	t.Helper()
	x, err := tensor.Uniform(b, rng, 0, 1, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// jointNet builds the joint autoencoder in Go, as a user would.
func jointNet(t *testing.T, b backend.Backend, rng *rand.Rand, classifierAlone bool) *nn.Sequential {
	t.Helper()
	lin := func(in, out int) *nn.Linear {
		l, err := nn.NewLinear(b, in, out, nn.InitDefault, rng)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	tied := func(enc *nn.Linear) *nn.TiedLinear {
		d, err := nn.NewTiedLinear(enc, rng)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	e0, e2, e4 := lin(784, 264), lin(264, 88), lin(88, 30)
	decoder := nn.NewSequential(tied(e4), nn.LeakyReLU(0.01), tied(e2), nn.LeakyReLU(0.01), tied(e0), nn.Sigmoid())
	var classifier nn.Module = nn.NewSequential(lin(30, 10))
	if classifierAlone {
		classifier = lin(30, 10)
	}
	return nn.NewSequential(e0, nn.LeakyReLU(0.01), e2, nn.LeakyReLU(0.01), e4, nn.NewConcat(decoder, classifier))
}

// SpecOf writes a Go-built joint network as its canonical spec, tied
// decoders in a head numbered among the modules before the Concat, and New
// accepts it; a head of a single module writes as one layer, but New
// refuses one with parameters, which a spec would name otherwise.
func TestConcatSpecOf(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(1, 5))
	net := jointNet(t, b, rng, false)
	s, err := SpecOf(net)
	if err != nil || s != jointSpec {
		t.Fatalf("SpecOf = %q, %v; want %q", s, err, jointSpec)
	}
	m, err := New(net)
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec != jointSpec || m.Inputs != 784 || m.Outputs != 794 || m.Net != net {
		t.Errorf("New: %q %d→%d", m.Spec, m.Inputs, m.Outputs)
	}

	alone := jointNet(t, b, rng, true)
	if s, err := SpecOf(alone); err != nil || s != jointSpec {
		t.Errorf("SpecOf with a head of one module = %q, %v; want %q", s, err, jointSpec)
	}
	if _, err := New(alone); err == nil || !strings.Contains(err.Error(), "module 5 (Concat(") || !strings.Contains(err.Error(), `head 1, Linear(30, 10), is not an nn.Sequential: the Concat names its "weight" 1.weight, where a spec's head, a Sequential, names it 1.0.weight`) {
		t.Errorf("New with a classifier head of one Linear: %v", err)
	}
	// A head without parameters may be a single module.
	enc := net.Modules[4].(*nn.Linear)
	free := nn.NewSequential(enc, nn.NewConcat(nn.Sigmoid(), nn.NewSequential(nn.Tanh())))
	if m, err := New(free); err != nil || m.Spec != "linear(88,30) concat[sigmoid | tanh]" {
		t.Errorf("New(a concat of parameter-free heads): %v", err)
	}

	for _, c := range []struct {
		net  *nn.Sequential
		want string
	}{
		{nn.NewSequential(enc, nn.NewConcat(nn.NewSequential(nn.Tanh()))), "a Concat of 1 head has no spec"},
		{nn.NewSequential(enc, nn.NewConcat(nn.NewSequential(), nn.Tanh())), "head 0 is an empty Sequential"},
		{nn.NewSequential(enc, nn.NewConcat(nn.Tanh(), nn.NewSequential(nn.NewSequential(nn.Tanh())))), "head 1: module 0 (*nn.Sequential) of the Sequential: a Sequential inside a Sequential"},
		// The encoder is in the head: a spec cannot say so.
		{nn.NewSequential(nn.Tanh(), nn.NewConcat(nn.Tanh(), nn.NewSequential(enc, mustTied(t, enc, rng)))), "head 1: module 1 (TiedLinear(30, 88)) of the Sequential"},
	} {
		if _, err := SpecOf(c.net); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "module 1 (Concat(") {
			t.Errorf("SpecOf: %v, want an error about module 1 mentioning %q", err, c.want)
		}
	}

	// Every spec's network, built, writes back as the spec; New accepts it.
	for _, c := range concatSpecs {
		p, err := c.plan()
		if err != nil {
			t.Fatalf("%q: %v", c.spec, err)
		}
		m, err := p.Build(b, rng)
		if err != nil {
			t.Fatalf("%q: %v", c.spec, err)
		}
		if s, err := SpecOf(m.Net); err != nil || s != p.Spec {
			t.Errorf("SpecOf(Build(%q)) = %q, %v", p.Spec, s, err)
		}
		if c.in == nil {
			_, err = New(m.Net)
		} else {
			_, err = NewFor(m.Net, c.in)
		}
		if err != nil {
			t.Errorf("New(Build(%q)): %v", p.Spec, err)
		}
	}
}

func mustTied(t *testing.T, enc *nn.Linear, rng *rand.Rand) *nn.TiedLinear {
	t.Helper()
	d, err := nn.NewTiedLinear(enc, rng)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// concatSpecs are networks with heads: the joint autoencoder's shape at a
// smaller size, nested heads, a head with batch norm and dropout, a concat
// first, images in a head.
var concatSpecs = []planCase{
	{"linear(9,7) leakyrelu(0.01) linear(7,4) concat[tied(2) leakyrelu(0.01) tied(0) sigmoid | linear(4,3)]", nil},
	{"linear(6,4) concat[batchnorm1d(4) dropout(0.5) tied(0) | relu | gaussiannoise(0.2) linear(4,2)] tanh", nil},
	{"linear(5,4) concat[linear(4,2) | linear(4,3) concat[relu | tied(0)] linear(7,1)] logsoftmax", nil},
	{"conv(1,2,3) concat[maxpool(2) flatten | flatten dropout(0.25)] linear(40,3)", tensor.Shape{1, 6, 6}},
}

// A model with heads saved, by Save and by SaveModule from a Go-built
// network, loads back with the same outputs bit for bit, batch norm's
// running statistics in a head included.
func TestConcatSaveLoad(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(8, 8))
	dir := t.TempDir()
	check := func(name string, m *Model, net nn.Module) {
		t.Helper()
		x := mustData(t, b, rng, append([]int{7}, m.InShape...)...)
		// Train a step, so that biases and statistics left their
		// initial values and Load must restore them.
		if _, err := nn.TrainStep(net, nn.MSELoss(), nn.NewSGD(0.5), x, mustData(t, b, rng, 7, m.Outputs)); err != nil {
			t.Fatal(err)
		}
		nn.SetTraining(net, false)
		want := data(t, must(t)(net.Forward(x)))
		path := filepath.Join(dir, name+".safetensors")
		if err := SaveModule(path, net, nil); err != nil {
			t.Fatal(err)
		}
		l, _, err := Load(b, path)
		if err != nil {
			t.Fatal(err)
		}
		if l.Spec != m.Spec {
			t.Errorf("%s: loaded %q, saved %q", name, l.Spec, m.Spec)
		}
		l.SetTraining(false)
		if got := data(t, must(t)(l.Forward(x))); !slices.Equal(got, want) {
			t.Errorf("%s: the loaded model's outputs differ", name)
		}
		if n := len(l.Params()) + len(l.Buffers()); n != len(net.Params())+len(nn.Buffers(net)) {
			t.Errorf("%s: %d tensors loaded", name, n)
		}
	}
	for _, c := range concatSpecs {
		p, err := c.plan()
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.Build(b, rng)
		if err != nil {
			t.Fatal(err)
		}
		check(p.Spec, m, m)
	}
	net := jointNet(t, b, rng, false)
	m, err := New(net)
	if err != nil {
		t.Fatal(err)
	}
	check("go-built", m, net)
}

func must(t *testing.T) func(*tensor.Tensor, error) *tensor.Tensor {
	return func(x *tensor.Tensor, err error) *tensor.Tensor {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
}

// Estimate counts what a concat and its heads allocate, exactly, as it
// does for layers of a spec: training (a concat first computes its
// input's gradient), evaluation batches and inference.
func TestConcatEstimateMatchesAllocation(t *testing.T) {
	cases := append([]planCase{{"concat[linear(7,5) relu | linear(7,3)] linear(8,2)", nil}}, concatSpecs...)
	if !testing.Short() {
		cases = append(cases, planCase{jointSpec, nil})
	}
	for _, c := range cases {
		p, err := c.plan()
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []Usage{
			{Batch: 2, Train: true, OptimizerSlots: 2}, // batch norm trains on 2 or more
			{Batch: 7, Train: true, OptimizerSlots: 1, EvalBatch: 33},
			{Batch: 33, Train: true},
			{Batch: 7},
		} {
			f, err := p.Estimate(u)
			if err != nil {
				t.Fatal(err)
			}
			if live := run(t, p, u, false); f.Total() != live {
				t.Errorf("%q %+v: estimate %d bytes (%v), the backend holds %d", p.Spec, u, f.Total(), f, live)
			}
		}
	}
	// The largest tensor of a head bounds the batch.
	p, err := NewPlanFor("concat[conv(1,64,3,pad=1) | flatten]", tensor.Shape{1, 512, 512})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Estimate(Usage{Batch: 1000}); err == nil || !strings.Contains(err.Error(), "takes batches of at most") {
		t.Errorf("Estimate of a head too large for its batch: %v", err)
	}
}

// A definition with a negative MinHeads is a programming error.
func TestRegisterLayerRefusesNegativeHeads(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "MinHeads -1") {
			t.Errorf("RegisterLayer with MinHeads -1: %v", r)
		}
	}()
	RegisterLayer("badheads", LayerDef{MinHeads: -1, Plan: samePlan, Build: func(BuildContext, Args) (nn.Module, error) { return nn.Tanh(), nil }})
}
