package model_test

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

func outputs(t *testing.T, m nn.Module, x *tensor.Tensor) []float32 {
	t.Helper()
	y, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	v, err := y.Data()
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(v)
}

// A user's layer (Scale, example_test.go) goes through a spec, Build, Save
// and Load, and through New and SaveModule for a network built in Go: the
// loaded models compute the same outputs bit for bit.
func TestUserLayerRoundTrip(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(7, 7))
	x, _ := tensor.Uniform(b, rng, -1, 1, 7, 5)
	dir := t.TempDir()

	m, err := model.Build(b, "linear(5,4) scale(4, init=0.5) tanh linear(4,3)", rng)
	if err != nil {
		t.Fatal(err)
	}
	if m.Spec != "linear(5,4) scale(4,init=0.5) tanh linear(4,3)" {
		t.Errorf("spec %q", m.Spec)
	}
	// Training changes the scale's factors, so that Load must restore them.
	for range 3 {
		if _, err := nn.TrainStep(m, nn.MSELoss(), nn.NewSGD(0.5), x, mustUniform(t, b, rng, 7, 3)); err != nil {
			t.Fatal(err)
		}
	}
	if w, _ := m.Net.Params()[2].Value.Data(); w[0] == 0.5 {
		t.Fatal("training did not move the scale")
	}
	if s, err := model.SpecOf(m.Net); err != nil || s != m.Spec {
		t.Errorf("SpecOf(Net) = %q, %v; want %q", s, err, m.Spec)
	}
	path := filepath.Join(dir, "spec.safetensors")
	if err := m.Save(path, nil); err != nil {
		t.Fatal(err)
	}
	loaded, _, err := model.Load(b, path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := outputs(t, loaded, x), outputs(t, m, x); !slices.Equal(got, want) {
		t.Errorf("loaded model: %v, saved one: %v", got, want)
	}

	// The same kind of network written in Go.
	l1, _ := nn.NewLinear(b, 5, 4, nn.InitDefault, rng)
	sc, _ := NewScale(b, 4, 2)
	l2, _ := nn.NewLinear(b, 4, 3, nn.InitKaiming, rng)
	net := nn.NewSequential(l1, sc, nn.Sigmoid(), l2)
	path = filepath.Join(dir, "go.safetensors")
	if err := model.SaveModule(path, net, map[string]string{"note": "go"}); err != nil {
		t.Fatal(err)
	}
	loaded, f, err := model.Load(b, path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Spec != "linear(5,4) scale(4,init=2) sigmoid linear(4,3,kaiming)" || f.Metadata["note"] != "go" {
		t.Errorf("loaded %q with metadata %v", loaded.Spec, f.Metadata)
	}
	if got, want := outputs(t, loaded, x), outputs(t, net, x); !slices.Equal(got, want) {
		t.Errorf("loaded network: %v, saved one: %v", got, want)
	}
	// LoadParams fills a second network built in Go from the file.
	l1b, _ := nn.NewLinear(b, 5, 4, nn.InitDefault, rng)
	scb, _ := NewScale(b, 4, 2)
	l2b, _ := nn.NewLinear(b, 4, 3, nn.InitKaiming, rng)
	net2 := nn.NewSequential(l1b, scb, nn.Sigmoid(), l2b)
	if slices.Equal(outputs(t, net2, x), outputs(t, net, x)) {
		t.Fatal("two initialisations agree")
	}
	if err := model.LoadParams(net2, f); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(outputs(t, net2, x), outputs(t, net, x)) {
		t.Error("LoadParams did not restore every parameter")
	}
}

func mustUniform(t *testing.T, b backend.Backend, rng *rand.Rand, shape ...int) *tensor.Tensor {
	t.Helper()
	x, err := tensor.Uniform(b, rng, 0, 1, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// LoadParams refuses a missing tensor or a wrong shape, and changes
// nothing then.
func TestLoadParamsChecks(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(1, 1))
	l, _ := nn.NewLinear(b, 3, 2, nn.InitDefault, rng)
	net := nn.NewSequential(l)
	before, _ := l.W.Value.Data()
	before = slices.Clone(before)
	for _, c := range []struct {
		ts   []safetensors.Tensor
		want string
	}{
		{[]safetensors.Tensor{{Name: "0.weight", Shape: []int{2, 3}, Data: make([]float32, 6)}}, `tensor "0.bias" of linear(3,2) is missing`},
		{[]safetensors.Tensor{{Name: "0.weight", Shape: []int{3, 2}, Data: make([]float32, 6)}, {Name: "0.bias", Shape: []int{2}, Data: make([]float32, 2)}},
			`tensor "0.weight" has shape (3×2), the model needs (2×3)`},
	} {
		err := model.LoadParams(net, &safetensors.File{Tensors: c.ts})
		if err == nil || err.Error() != c.want {
			t.Errorf("LoadParams: %v, want %q", err, c.want)
		}
		if now, _ := l.W.Value.Data(); !slices.Equal(now, before) {
			t.Error("a refused LoadParams changed the weight")
		}
	}
}

// allBuiltins uses every built-in layer, with non-default arguments;
// allImageLayers the convolutional ones, on 3×9×8 images.
const (
	allBuiltins    = "gaussiannoise(0.1) linear(6,5,xavier) leakyrelu(0.25) dropout(0.5) linear(5,4,kaiming) relu tied(4) sigmoid tanh softmax logsoftmax flatten linear(5,2)"
	allImageLayers = "conv(3,4,3,stride=2,pad=1,bias=false) batchnorm2d(4,eps=0.001,momentum=0.2) maxpool(2,stride=1) avgpool(3,pad=1) " +
		"convtranspose(4,2,3,stride=2,pad=1,outpad=1,bias=false) conv(2,3,1) globalavgpool batchnorm1d(3) reshape(1,3,1) conv(1,2,1) flatten linear(6,2)"
)

// The spec of a built network, derived from its modules, is the spec it was
// built from, for every built-in layer; and New accepts the network.
func TestSpecOfRoundTrip(t *testing.T) {
	b := cpu.New()
	specs := []string{allBuiltins, "linear(3,2)", "tied(0)", "linear(4,3) tied(0)", "dropout(0) linear(3,3) gaussiannoise(0)", "softmax linear(2,2,xavier) flatten",
		"linear(6,4) concat[tied(0) sigmoid | linear(4,3,xavier) | concat[relu | dropout(0.5)]]"}
	all := allBuiltins + " " + allImageLayers
	for _, name := range model.LayerNames() {
		if name != "tied" && name != "linear" && name != "scale" && name != "twice" && !strings.Contains(all, name+" ") && !strings.Contains(all, name+"(") && !strings.Contains(specs[len(specs)-1], name+"[") {
			t.Errorf("layer %s is missing from the round trip", name)
		}
	}
	// Specs that must be told their input: derived back, with every
	// argument that is not a default, in the order the modules write them.
	images := map[string]tensor.Shape{allImageLayers: {3, 9, 8}, "conv(1,2,3) maxpool(3,stride=2,pad=1) convtranspose(2,1,2,stride=3,outpad=2)": {1, 7, 7}}
	for spec, in := range images {
		p, err := model.NewPlanFor(spec, in)
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.Build(b, rand.New(rand.NewPCG(2, 2)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := model.SpecOf(m.Net)
		if err != nil || got != spec || m.Spec != spec {
			t.Errorf("SpecOf(Build(%q).Net) = %q, %v; the model's spec is %q", spec, got, err, m.Spec)
		}
		if _, err := model.New(m.Net); err == nil || !strings.Contains(err.Error(), "input") {
			t.Errorf("New(%q) without an input shape: %v, want an error asking for it", spec, err)
		}
		w, err := model.NewFor(m.Net, in)
		if err != nil {
			t.Fatalf("NewFor(Build(%q).Net): %v", spec, err)
		}
		if w.Spec != m.Spec || !slices.Equal(w.InShape, in) || !slices.Equal(w.OutShape, m.OutShape) || len(w.Buffers()) != len(m.Buffers()) {
			t.Errorf("NewFor: %q %v→%v, Build: %q %v→%v", w.Spec, w.InShape, w.OutShape, m.Spec, m.InShape, m.OutShape)
		}
	}
	for _, spec := range specs {
		m, err := model.Build(b, spec, rand.New(rand.NewPCG(2, 2)))
		if spec == "tied(0)" {
			if err == nil {
				t.Error("tied(0) as the first layer built")
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", spec, err)
		}
		got, err := model.SpecOf(m.Net)
		if err != nil || got != m.Spec || got != spec {
			t.Errorf("SpecOf(Build(%q).Net) = %q, %v; the model's spec is %q", spec, got, err, m.Spec)
		}
		w, err := model.New(m.Net)
		if err != nil {
			t.Fatalf("New(Build(%q).Net): %v", spec, err)
		}
		if w.Spec != m.Spec || w.Inputs != m.Inputs || w.Outputs != m.Outputs || !slices.Equal(w.InShape, m.InShape) {
			t.Errorf("New: %q %d→%d, Build: %q %d→%d", w.Spec, w.Inputs, w.Outputs, m.Spec, m.Inputs, m.Outputs)
		}
		if s, err := model.SpecOf(m); err != nil || s != m.Spec {
			t.Errorf("SpecOf(Model) = %q, %v", s, err)
		}
	}
}

type noSpec struct{ nn.Module }

type badSpec struct {
	nn.Module
	spec string
}

func (b badSpec) Spec() string { return b.spec }

// New refuses a network its spec does not describe, naming the module.
func TestNewRejectsMismatchedNets(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(3, 3))
	lin := func(in, out int) *nn.Linear {
		l, err := nn.NewLinear(b, in, out, nn.InitDefault, rng)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	liar := lin(4, 3)
	liar.In = 5 // says linear(5,3), holds a (3×4) weight
	enc := lin(4, 3)
	orphan, _ := nn.NewTiedLinear(enc, rng)
	scaled, _ := NewScale(b, 3, 1)
	for _, c := range []struct {
		name string
		net  *nn.Sequential
		want []string
	}{
		{"module without a spec", nn.NewSequential(lin(4, 3), noSpec{nn.ReLU()}),
			[]string{"module 1", "model_test.noSpec has no spec", "Spec() string", "model.RegisterLayer"}},
		{"weight of another shape", nn.NewSequential(liar),
			[]string{`parameter 0 is 0.weight (3×4), but its spec "linear(5,3)" plans 0.weight (3×5)`}},
		{"tied to an encoder outside", nn.NewSequential(lin(2, 3), orphan), []string{"module 1 (TiedLinear(3, 4))", "encoder", "not among"}},
		{"shapes do not chain", nn.NewSequential(lin(4, 3), scaled, lin(2, 2)), []string{"column 22", "linear(2,2) takes 2 inputs but the layer before gives 3"}},
		{"unregistered spec", nn.NewSequential(badSpec{nn.ReLU(), "swish"}), []string{"module 0", `its spec "swish"`, `unknown layer "swish"`}},
		{"two layers in one", nn.NewSequential(badSpec{nn.ReLU(), "relu relu"}), []string{`"relu relu" is 2 layers`}},
		{"hidden parameters", nn.NewSequential(lin(2, 2), badSpec{lin(2, 2), "relu"}), []string{"has 4 parameters", "plans 2: 1.weight is not in the spec"}},
		{"missing parameters", nn.NewSequential(badSpec{nn.ReLU(), "linear(2,2)"}), []string{"0.weight is missing"}},
		{"nested", nn.NewSequential(nn.NewSequential(lin(2, 2))), []string{"inside a Sequential"}},
		{"empty", nn.NewSequential(), []string{"empty Sequential"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := model.New(c.net)
			if err == nil {
				t.Fatal("New accepted it")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			path := filepath.Join(t.TempDir(), "m.safetensors")
			if err := model.SaveModule(path, c.net, nil); err == nil {
				t.Error("SaveModule saved it")
			}
		})
	}
	if _, err := model.SpecOf(nn.ReLU()); err == nil || !strings.Contains(err.Error(), "nn.NewSequential") {
		t.Errorf("SpecOf of a bare module: %v", err)
	}
	if err := model.SaveModule(filepath.Join(t.TempDir(), "m"), nn.ReLU(), nil); err == nil {
		t.Error("SaveModule of a bare module")
	}
}

// Shapes that do not chain are refused by NewPlan and NewPlanFor at the
// column of the layer at fault, before anything is allocated.
func TestShapeChainErrors(t *testing.T) {
	cases := []struct {
		spec   string
		in     tensor.Shape // nil: NewPlan
		column int
		want   string
	}{
		{"linear(4,3) tanh linear(4,2)", nil, 18, "linear(4,2) takes 4 inputs but the layer before gives 3"},
		{"linear(4,3) relu tied(0) linear(3,2)", nil, 26, "linear(3,2) takes 3 inputs but the layer before gives 4"},
		{"linear(4,3) relu linear(3,2) tied(0)", nil, 30, "tied(0) takes 3 inputs (the outputs of linear(4,3)) but the layer before gives 2"},
		{"linear(10,2)", tensor.Shape{1, 28, 28}, 1, "linear(10,2) takes 10 inputs but the input has 784 (shape (1×28×28))"},
		{"flatten dropout(0.5) linear(784,10) scale(5)", tensor.Shape{1, 28, 28}, 37, "scale(5) takes 5 values but the layer before gives (10)"},
		{"tanh scale(3) linear(4,2)", nil, 6, "scale(3) takes 3 values but the layer before gives (4)"},
		{"relu flatten linear(6,2)", nil, 0, ""}, // flatten keeps (6)
		{"scale(6) linear(6,2)", nil, 0, ""},
		{"flatten linear(6,2) softmax", tensor.Shape{2, 3}, 0, ""},
		{"linear(6,2)", tensor.Shape{2, 3}, 0, ""},
		{"tanh relu", nil, 1, "no linear layer"},
		{"relu twice linear(4,2)", nil, 6, "twice changes its input's shape, so the input shape cannot be taken from linear(4,2) at column 12 (NewPlanFor takes it from the data)"},
		{"twice linear(4,2)", tensor.Shape{2}, 0, ""},
		{"dropout(0.5)", tensor.Shape{3, 7}, 0, ""},
	}
	for _, c := range cases {
		var err error
		var p *model.Plan
		if c.in == nil {
			p, err = model.NewPlan(c.spec)
		} else {
			p, err = model.NewPlanFor(c.spec, c.in)
		}
		if c.column == 0 {
			if err != nil {
				t.Errorf("%q for %v: %v", c.spec, c.in, err)
			}
			continue
		}
		var se *model.SpecError
		if !errors.As(err, &se) || se.Pos+1 != c.column || !strings.Contains(se.Msg, c.want) {
			t.Errorf("%q for %v: %v\nwant column %d: %s", c.spec, c.in, err, c.column, c.want)
		}
		if p != nil {
			t.Errorf("%q: a plan with the error", c.spec)
		}
		// Build reports the same, having allocated nothing.
		if c.in == nil {
			b := cpu.New()
			if _, err := model.Build(b, c.spec, rand.New(rand.NewPCG(1, 1))); err == nil || b.MemStats().Allocs != 0 {
				t.Errorf("Build(%q): %v after %d allocations", c.spec, err, b.MemStats().Allocs)
			}
		}
	}
	p, err := model.NewPlanFor("flatten linear(6,2) softmax", tensor.Shape{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := []tensor.Shape{{2, 3}, {6}, {2}, {2}}; !slices.EqualFunc(p.Shapes, want, slices.Equal) || !slices.Equal(p.Widths, []int{6, 6, 2, 2}) {
		t.Errorf("shapes %v, widths %v", p.Shapes, p.Widths)
	}
	for _, bad := range []tensor.Shape{{}, {0, 3}, {-1}, {1 << 20, 1 << 20}} {
		if _, err := model.NewPlanFor("relu", bad); err == nil {
			t.Errorf("NewPlanFor(relu, %v) accepted the shape", bad)
		}
	}
}

// errAlloc is what failingBackend reports.
var errAlloc = errors.New("out of device memory")

// failingBackend fails, as a device out of memory does (a sticky error),
// any allocation of more than limit values.
type failingBackend struct {
	backend.Backend
	limit int
	err   error
}

func (f *failingBackend) Alloc(n int) backend.Buffer {
	if n > f.limit && f.err == nil {
		f.err = errAlloc
	}
	if n > f.limit {
		n = 0
	}
	return f.Backend.Alloc(n)
}

func (f *failingBackend) Err() error {
	if f.err != nil {
		return f.err
	}
	return f.Backend.Err()
}

// A layer the backend cannot allocate is named with its position, column
// and size.
func TestBuildNamesTheLayerThatDoesNotFit(t *testing.T) {
	b := &failingBackend{Backend: cpu.New(), limit: 1000}
	_, err := model.Build(b, "linear(3,2) relu linear(2,1000) sigmoid", rand.New(rand.NewPCG(1, 1)))
	want := `model "linear(3,2) relu linear(2,1000) sigmoid": layer 2 (column 18), linear(2,1000), with 24.0 kB of weights and gradients: out of device memory`
	if err == nil || err.Error() != want || !errors.Is(err, errAlloc) {
		t.Errorf("Build: %v\nwant %s", err, want)
	}
	// A backend that has failed already is not blamed on the first layer.
	if _, err := model.Build(b, "linear(3,2)", rand.New(rand.NewPCG(1, 1))); err == nil || !strings.Contains(err.Error(), "had failed before") {
		t.Errorf("Build on a failed backend: %v", err)
	}
	ok := &failingBackend{Backend: cpu.New(), limit: 2000}
	if _, err := model.Build(ok, "linear(3,2) relu linear(2,1000) sigmoid", rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Errorf("Build within the limit: %v", err)
	}
}

// Dropout and noise seeds come from the build's rng: a seeded build draws
// the same masks, another seed others. The model passes eval mode on.
func TestSeededBuildAndModes(t *testing.T) {
	b := cpu.New()
	x := mustUniform(t, b, rand.New(rand.NewPCG(9, 9)), 33, 8)
	build := func(seed uint64) *model.Model {
		p, err := model.NewPlanFor("dropout(0.5) gaussiannoise(0.3)", tensor.Shape{8})
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.Build(b, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m1, m2, m3 := build(1), build(1), build(2)
	o1 := outputs(t, m1, x)
	if !slices.Equal(o1, outputs(t, m2, x)) {
		t.Error("two builds of one seed draw different masks")
	}
	if slices.Equal(o1, outputs(t, m3, x)) {
		t.Error("builds of two seeds draw the same masks")
	}
	m1.Reseed(5)
	m2.Reseed(6)
	if slices.Equal(outputs(t, m1, x), outputs(t, m2, x)) {
		t.Error("Reseed does not reach the modules")
	}
	// In eval mode both layers are the identity.
	in, _ := x.Data()
	in = slices.Clone(in)
	m1.SetTraining(false)
	if got := outputs(t, m1, x); !slices.Equal(got, in) {
		t.Error("SetTraining(false) does not reach the modules")
	}
	m1.SetTraining(true)
	if slices.Equal(outputs(t, m1, x), in) {
		t.Error("SetTraining(true) does not reach the modules")
	}
	m1, _ = model.Build(b, "linear(8,8) dropout(0.5)", rand.New(rand.NewPCG(1, 1)))
	if s, err := m1.OutputShape(tensor.Shape{2, 4}); err != nil || !slices.Equal(s, tensor.Shape{8}) {
		t.Errorf("OutputShape = %v, %v", s, err)
	}
	if _, err := m1.OutputShape(tensor.Shape{7}); err == nil {
		t.Error("OutputShape accepted 7 values for linear(8,8)")
	}
}

// Class names and an input shape the spec does not imply are kept in the
// file; files without them, and class names in the form an earlier diynn
// wrote, load.
func TestSaveKeepsClassesAndInputShape(t *testing.T) {
	b := cpu.New()
	p, err := model.NewPlanFor("dropout(0.1) flatten linear(6,2)", tensor.Shape{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Build(b, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	m.Classes = []string{"cat", "dog, \"hound\""}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path, map[string]string{model.MetaClasses: "ignored", model.MetaInput: "[9]"}); err != nil {
		t.Fatal(err)
	}
	f, _ := safetensors.ReadFile(path)
	if f.Metadata[model.MetaInput] != "[1,2,3]" || f.Metadata[model.MetaClasses] != `["cat","dog, \"hound\""]` {
		t.Errorf("metadata %v", f.Metadata)
	}
	l, _, err := model.Load(b, path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Classes, m.Classes) || !slices.Equal(l.InShape, tensor.Shape{1, 2, 3}) || l.Spec != m.Spec {
		t.Errorf("loaded classes %q, input %v, spec %q", l.Classes, l.InShape, l.Spec)
	}
	// Hostile or stale class names: what is not a JSON array (nor an older
	// diynn's list joined by U+001F) is refused, and so is a count that is
	// not the classifier's outputs (2 here), however long the list; an
	// autoencoder's file may name its data's classes.
	many := "[" + strings.Repeat(`"x",`, 100000) + `"y"]`
	for _, c := range []struct {
		classes, task string
		want          []string
		err           string
	}{
		{"", "", nil, ""},
		{"a\x1fb", "", []string{"a", "b"}, ""},
		{`["x","y"]`, "classify", []string{"x", "y"}, ""},
		{`["x", 3]`, "", nil, `metadata "classes" is not a JSON array of class names`},
		{`{"x":0,"y":1}`, "", nil, `metadata "classes" = "{\"x\":0,\"y\":1}" is not a JSON array`},
		{`null`, "", nil, `metadata "classes" = "null" is not a JSON array`},
		{`["x"]`, "", nil, `1 class names for 2 outputs`},
		{"a\x1fb\x1fc", "classify", nil, `3 class names for 2 outputs`},
		{many, "", nil, `100001 class names for 2 outputs`},
		{`["0","1","2"]`, "reconstruct", []string{"0", "1", "2"}, ""},
	} {
		f, _ := safetensors.ReadFile(path)
		delete(f.Metadata, model.MetaClasses)
		delete(f.Metadata, model.MetaTask)
		if c.classes != "" {
			f.Metadata[model.MetaClasses] = c.classes
		}
		if c.task != "" {
			f.Metadata[model.MetaTask] = c.task
		}
		if err := safetensors.WriteFile(path, f); err != nil {
			t.Fatal(err)
		}
		l, _, err := model.Load(b, path)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("classes %q: %v, want %q", c.classes, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(l.Classes, c.want) {
			t.Errorf("classes %q: %q, %v", c.classes, l.Classes, err)
		}
	}
	// Save refuses what Load would: names that are not one an output.
	m.Classes = []string{"cat", "dog", "cow"}
	if err := m.Save(path, nil); err == nil || !strings.Contains(err.Error(), "3 class names for 2 outputs") {
		t.Errorf("saving 3 class names for 2 outputs: %v", err)
	}
	if err := m.Save(path, map[string]string{model.MetaTask: "reconstruct"}); err != nil {
		t.Errorf("an autoencoder's file naming 3 classes: %v", err)
	}
	// A spec that implies its input writes none.
	m2, _ := model.Build(b, "linear(3,2)", rand.New(rand.NewPCG(1, 1)))
	path2 := filepath.Join(t.TempDir(), "m2.safetensors")
	if err := m2.Save(path2, nil); err != nil {
		t.Fatal(err)
	}
	if f, _ := safetensors.ReadFile(path2); len(f.Metadata) != 2 {
		t.Errorf("metadata %v, want format and spec only", f.Metadata)
	}
	// A bad input shape in a file is reported.
	f.Metadata[model.MetaInput] = "[0]"
	if _, err := model.PlanFile(f); err == nil || !strings.Contains(err.Error(), "input shape") {
		t.Errorf("PlanFile with input [0]: %v", err)
	}
}

// twice is a layer that doubles its input's values (planned only): a shape
// change before the layer a spec's input shape is inferred from.
func init() {
	model.RegisterLayer("twice", model.LayerDef{
		Plan: func(ctx model.PlanContext, _ model.Args) (model.LayerPlan, error) {
			return model.LayerPlan{Out: tensor.Shape{2 * ctx.In[0]}}, nil
		},
		Build: func(model.BuildContext, model.Args) (nn.Module, error) {
			return nil, errors.New("twice is only planned")
		},
	})
}

func TestRegisterLayerPanics(t *testing.T) {
	plan := func(model.PlanContext, model.Args) (model.LayerPlan, error) { return model.LayerPlan{}, nil }
	build := func(model.BuildContext, model.Args) (nn.Module, error) { return nil, nil }
	for _, c := range []struct {
		name string
		def  model.LayerDef
		want string
	}{
		{"linear", model.LayerDef{Plan: plan, Build: build}, "already registered"},
		{"scale", model.LayerDef{Plan: plan, Build: build}, "already registered"},
		{"Swish", model.LayerDef{Plan: plan, Build: build}, "lowercase letters"},
		{"2conv", model.LayerDef{Plan: plan, Build: build}, "lowercase letters and digits, starting with a letter"},
		{"conv_2", model.LayerDef{Plan: plan, Build: build}, "lowercase letters and digits"},
		{"", model.LayerDef{Plan: plan, Build: build}, "lowercase letters"},
		{"swish", model.LayerDef{Build: build}, "needs Plan and Build"},
		{"swish", model.LayerDef{Plan: plan}, "needs Plan and Build"},
		{"swish", model.LayerDef{Plan: plan, Build: build, MinArgs: 2, MaxArgs: 1}, "arguments"},
		{"swish", model.LayerDef{Plan: plan, Build: build, MaxArgs: 1, Defaults: []string{"1", "2"}}, "defaults"},
		{"swish", model.LayerDef{Plan: plan, Build: build, MaxArgs: 1, Defaults: []string{"1,2"}}, "not a number"},
		{"swish", model.LayerDef{Plan: plan, Build: build, Named: map[string]string{"Beta": "1"}}, "lowercase letters"},
	} {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, c.want) {
					t.Errorf("RegisterLayer(%q, …): panic %v, want %q", c.name, r, c.want)
				}
			}()
			model.RegisterLayer(c.name, c.def)
		}()
	}
	if slices.Contains(model.LayerNames(), "swish") {
		t.Error("a refused layer was registered")
	}
	if u := model.LayerUsage("linear"); u != "linear(IN,OUT[,INIT])" {
		t.Errorf("LayerUsage(linear) = %q", u)
	}
}

// Named arguments: canonical order and defaults, and errors at their
// column.
func TestNamedArguments(t *testing.T) {
	for spec, canonical := range map[string]string{
		"linear(3,3) scale(3, init = 0.25)": "linear(3,3) scale(3,init=0.25)",
		"linear(3,3) scale(3,init=1)":       "linear(3,3) scale(3)",
		"linear(3,3) Scale( 3 )":            "linear(3,3) scale(3)",
		"relu() linear(2,2,default)":        "relu linear(2,2)",
	} {
		layers, err := model.Parse(spec)
		if err != nil || model.Format(layers) != canonical {
			t.Errorf("Parse(%q) = %q, %v; want %q", spec, model.Format(layers), err, canonical)
		}
	}
	for _, c := range []struct {
		spec   string
		column int
		want   string
	}{
		{"scale(3,pad=1)", 9, `scale has no argument "pad" (named arguments it takes: init)`},
		{"relu(alpha=1)", 6, `relu has no argument "alpha" (named arguments it takes: none)`},
		{"scale(3,init=1,init=2)", 16, "init given twice"},
		{"scale(init=2,3)", 14, "positional argument \"3\" after a named one"},
		{"scale(3,Init=2)", 9, "argument name \"Init\": want lowercase letters"},
		{"scale(3,init=x)", 14, `"x" is not a number`},
		{"scale(3,init=1.5.2)", 14, `"1.5.2" is not a number`},
		{"scale(0)", 7, "scale needs a positive integer here, got 0"},
		{"scale(2147483648)", 7, "2147483648 is out of range: numbers in specs are at most 1e+09 in magnitude"},
		{"scale(1e400)", 7, "1e400 is out of range"},
		{"scale(inf)", 7, `"inf" is not a number`},
		{"relu é", 6, `expected a layer name, found "é"`},
		{"relu(),é", 7, `expected a space between layers, found ","`},
		{"relué", 5, `expected a space between layers, found "é"`},
		{"scale(3,)", 9, "empty argument"},
		{"swish(1)", 1, `unknown layer "swish" (known: linear, tied, tanh, sigmoid, relu, leakyrelu, softmax, logsoftmax, dropout, gaussiannoise, flatten, conv, convtranspose, maxpool, avgpool, globalavgpool, batchnorm2d, batchnorm1d, reshape, concat, scale, twice; a layer of your own needs model.RegisterLayer)`},
		{"dropout(1)", 9, "dropout needs a probability in [0, 1) here, got 1"},
		{"dropout(-0.1)", 9, "dropout needs a probability in [0, 1) here, got -0.1"},
		{"gaussiannoise(-1)", 15, "gaussiannoise needs a non-negative standard deviation here, got -1"},
		{"tied(-1)", 6, "tied needs a non-negative integer here, got -1"},
		{"leakyrelu(xavier)", 11, `"xavier" is not a number`},
		{"linear(4,3,7)", 12, `linear init "7": want default, xavier or kaiming`},
		{"flatten(2)", 1, "flatten takes 0 arguments, got 1: flatten"},
		{"linear(1,2,xavier,4)", 1, "linear takes 2 or 3 arguments, got 4: linear(IN,OUT[,INIT])"},
	} {
		_, err := model.Parse(c.spec)
		var se *model.SpecError
		if !errors.As(err, &se) || se.Pos+1 != c.column || !strings.Contains(se.Msg, c.want) {
			t.Errorf("Parse(%q): %v\nwant column %d: %s", c.spec, err, c.column, c.want)
		}
	}
}
