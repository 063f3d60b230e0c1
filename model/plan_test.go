package model

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

// planCase is a spec and the shape of its samples, nil for the one the
// spec implies.
type planCase struct {
	spec string
	in   tensor.Shape
}

// plan plans c as the CLI does: for its input shape when it has one.
func (c planCase) plan() (*Plan, error) {
	if c.in != nil {
		return NewPlanFor(c.spec, c.in)
	}
	return NewPlan(c.spec)
}

// imageSpecs cover the convolutional layers: odd sizes, strides, padding,
// pools, batch norm of both kinds, reshape and transposed convolutions.
// (Batch norm of vectors trains on batches of 2 or more, so the footprint
// test, which trains on a batch of 1, takes it on sequences.)
var imageSpecs = []planCase{
	{"conv(1,4,3,pad=1) batchnorm2d(4) relu maxpool(2) conv(4,5,2,stride=2,bias=false) flatten dropout(0.5) linear(10,3)", tensor.Shape{1, 7, 9}},
	{"batchnorm2d(3,eps=0.001,momentum=0.2) conv(3,2,3) avgpool(3,stride=2,pad=1) relu globalavgpool linear(2,4)", tensor.Shape{3, 8, 8}},
	{"maxpool(3,stride=1,pad=1) conv(3,2,1) flatten linear(128,16) relu reshape(1,4,4) convtranspose(1,3,3,stride=2,pad=1,outpad=1) relu convtranspose(3,2,2,stride=2,bias=false) sigmoid", tensor.Shape{3, 8, 8}},
	{"linear(12,18) reshape(2,3,3) convtranspose(2,1,3,stride=2) reshape(7,7) batchnorm1d(7)", nil},
	{"reshape(2,5) batchnorm1d(2) flatten linear(10,2)", nil},
}

// planSpecs cover every layer kind, leading activations, tied decoders and
// the presets.
func planSpecs() []planCase {
	var specs []planCase
	for _, s := range []string{
		"linear(3,2)",
		"linear(7,5,xavier) tanh linear(5,3,kaiming) logsoftmax",
		"tanh linear(13,11) relu linear(11,2) softmax",
		"sigmoid relu linear(4,4) leakyrelu(0.2) tied(2) tied(2)",
		"linear(9,4) leakyrelu(0.1) linear(4,2) tied(2) relu tied(0) sigmoid",
		"dropout(0.5) linear(6,4) gaussiannoise(0.2) flatten dropout(0) tied(1) logsoftmax",
		"linear(9,7) leakyrelu(0.01) linear(7,4) concat[tied(2) leakyrelu(0.01) tied(0) sigmoid | linear(4,3)]",
		"concat[linear(5,2) | linear(5,3) concat[tied(0) | relu]] tanh",
	} {
		specs = append(specs, planCase{spec: s})
	}
	specs = append(specs, imageSpecs...)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range Presets {
			if !yield(n) {
				return
			}
		}
	}) {
		specs = append(specs, planCase{Presets[name].Spec, Presets[name].Input})
	}
	return specs
}

// The plan's parameters, widths and sizes are the built model's, so the
// two cannot drift apart.
func TestPlanMatchesBuild(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(3, 3))
	for _, c := range planSpecs() {
		spec := c.spec
		p, err := c.plan()
		if err != nil {
			t.Fatalf("NewPlan(%q): %v", spec, err)
		}
		m, err := p.Build(b, rng)
		if err != nil {
			t.Fatalf("%q: %v", spec, err)
		}
		params := m.Net.Params()
		if len(params) != len(p.Params) {
			t.Fatalf("%q: plan has %d params, the model %d", spec, len(p.Params), len(params))
		}
		var n int64
		for i, mp := range params {
			if mp.Name != p.Params[i].Name || !slices.Equal([]int(mp.Value.Shape()), p.Params[i].Shape) {
				t.Errorf("%q: param %d is %s %v, the plan says %s %v", spec, i, mp.Name, mp.Value.Shape(), p.Params[i].Name, p.Params[i].Shape)
			}
			n += int64(mp.Value.Len())
		}
		if n != p.NumParams() {
			t.Errorf("%q: %d values, the plan counts %d", spec, n, p.NumParams())
		}
		bufs := m.Buffers()
		if len(bufs) != len(p.Buffers) {
			t.Fatalf("%q: plan has %d buffers, the model %d", spec, len(p.Buffers), len(bufs))
		}
		n = 0
		for i, mb := range bufs {
			if mb.Name != p.Buffers[i].Name || mb.Grad != nil || int64(mb.Value.Len()) != p.Buffers[i].Len() {
				t.Errorf("%q: buffer %d is %s %v, the plan says %s %v", spec, i, mb.Name, mb.Value.Shape(), p.Buffers[i].Name, p.Buffers[i].Shape)
			}
			n += int64(mb.Value.Len())
		}
		if n != p.NumBuffers() {
			t.Errorf("%q: %d buffer values, the plan counts %d", spec, n, p.NumBuffers())
		}
		if m.Inputs != p.Inputs() || m.Outputs != p.Outputs() || m.Spec != p.Spec {
			t.Errorf("%q: model %d→%d %q, plan %d→%d %q", spec, m.Inputs, m.Outputs, m.Spec, p.Inputs(), p.Outputs(), p.Spec)
		}
		// Every layer's output has the width the plan says.
		x := make([]float32, 2*p.Inputs())
		for i := range x {
			x[i] = float32(i%7) / 7
		}
		xt, _ := tensor.FromSlice(b, x, append([]int{2}, p.InputShape()...)...)
		h := xt
		for i, mod := range m.Net.Modules {
			if h, err = mod.Forward(h); err != nil {
				t.Fatalf("%q: layer %d: %v", spec, i, err)
			}
			if h.Cols() != p.Widths[i+1] || !slices.Equal(h.Shape()[1:], p.Shapes[i+1]) {
				t.Errorf("%q: layer %d gives %v, the plan says %v", spec, i, h.Shape(), p.Shapes[i+1])
			}
			// The module's own shape inference agrees with the plan's.
			if s, err := nn.OutputShape(mod, p.Shapes[i]); err != nil || !slices.Equal(s, p.Shapes[i+1]) {
				t.Errorf("%q: layer %d: nn.OutputShape(%v) = %v, %v; the plan says %v", spec, i, p.Shapes[i], s, err, p.Shapes[i+1])
			}
		}
	}
}

// A model file whose spec asks for far more than its tensors hold fails
// on the missing tensor before anything is allocated.
func TestLoadChecksTensorsBeforeBuilding(t *testing.T) {
	dir := t.TempDir()
	huge := strings.TrimSpace(strings.Repeat("linear(16384,16384) ", 12))
	write := func(name, spec string, ts ...safetensors.Tensor) string {
		path := filepath.Join(dir, name)
		if err := safetensors.WriteFile(path, &safetensors.File{Tensors: ts, Metadata: map[string]string{MetaSpec: spec}}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	small := safetensors.Tensor{Name: "0.weight", Shape: []int{2, 3}, Data: make([]float32, 6)}
	cases := []struct {
		name, path string
		want       []string
	}{
		{"huge spec", write("huge.safetensors", huge, small), []string{"huge.safetensors", `tensor "0.weight" has shape (2×3), the model needs (16384×16384)`}},
		{"huge spec, no tensors", write("empty.safetensors", huge), []string{`tensor "0.weight" of linear(16384,16384)`, "is missing"}},
		{"missing bias", write("nobias.safetensors", "linear(3,2)", small), []string{`tensor "0.bias"`, "missing"}},
		{"bad spec", write("bad.safetensors", "linear(3,2) bogus", small), []string{"bad.safetensors", `unknown layer "bogus"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if fi, err := os.Stat(c.path); err != nil || fi.Size() > 1024 {
				t.Fatalf("fixture: %v, %d bytes", err, fi.Size())
			}
			b := cpu.New()
			_, _, err := Load(b, c.path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if s := b.MemStats(); s.Allocs != 0 {
				t.Errorf("Load allocated %d buffers (%d bytes) before failing", s.Allocs, s.LiveBytes)
			}
		})
	}
	// The limit reaches ReadFile.
	path := write("ok.safetensors", "linear(3,2)", small, safetensors.Tensor{Name: "0.bias", Shape: []int{2}, Data: make([]float32, 2)})
	if _, _, err := Load(cpu.New(), path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadLimit(cpu.New(), path, 100); err == nil || !strings.Contains(err.Error(), "limit of 100 B") {
		t.Errorf("LoadLimit(100): %v", err)
	}
}

func TestBuildRefusesHugeModels(t *testing.T) {
	b := cpu.New()
	// 17 × 2²⁸ weights: 68 GiB of values, over MaxParamBytes.
	spec := strings.TrimSpace(strings.Repeat("linear(16384,16384) ", 17))
	_, err := Build(b, spec, rand.New(rand.NewPCG(1, 1)))
	if err == nil || !strings.Contains(err.Error(), "4563681280 parameters (18.3 GB)") || !strings.Contains(err.Error(), "17.2 GB") {
		t.Errorf("error %v, want one giving the count, the size and the bound", err)
	}
	if s := b.MemStats(); s.Allocs != 0 {
		t.Errorf("Build allocated %d buffers before failing", s.Allocs)
	}
}

// NewPlan never panics, gives positive widths, and plans the canonical
// form of a spec as the spec itself.
func FuzzNewPlan(f *testing.F) {
	for _, c := range planSpecs() {
		f.Add(c.spec)
	}
	f.Add("linear(4,3) tied(1)")
	f.Add("tied(0) linear(2,2)")
	f.Fuzz(func(t *testing.T, spec string) {
		p, err := NewPlan(spec)
		if err != nil {
			return
		}
		for i, w := range p.Widths {
			if w <= 0 {
				t.Fatalf("%q: width %d is %d", spec, i, w)
			}
		}
		q, err := NewPlan(p.Spec)
		if err != nil || !slices.EqualFunc(p.Params, q.Params, func(a, b ParamShape) bool {
			return a.Name == b.Name && slices.Equal(a.Shape, b.Shape)
		}) {
			t.Fatalf("%q and its canonical form %q plan differently: %v", spec, p.Spec, err)
		}
		if _, err := p.Estimate(Usage{Batch: 1 << 20, Train: true, OptimizerSlots: 2, EvalBatch: 1000}); err != nil && !strings.Contains(err.Error(), "needs more than") && !strings.Contains(err.Error(), "more than the 2³¹−1 one tensor holds") {
			t.Fatalf("%q: %v", spec, err)
		}
	})
}

// Specs planned for images never panic either, and their canonical form
// plans the same shapes and tensors.
func FuzzNewPlanFor(f *testing.F) {
	for _, c := range imageSpecs {
		if c.in != nil {
			f.Add(c.spec, c.in[0], c.in[1], c.in[2])
		}
	}
	f.Add("conv(1,2,3,stride=2,pad=1) maxpool(2,pad=1)", 1, 1, 1)
	f.Add("convtranspose(1,1,1,pad=3)", 1, 2, 2)
	f.Fuzz(func(t *testing.T, spec string, c, h, w int) {
		if c <= 0 || h <= 0 || w <= 0 || c > 64 || h > 4096 || w > 4096 {
			return
		}
		p, err := NewPlanFor(spec, tensor.Shape{c, h, w})
		if err != nil {
			return
		}
		for i, wd := range p.Widths {
			if wd <= 0 {
				t.Fatalf("%q: width %d is %d", spec, i, wd)
			}
		}
		q, err := NewPlanFor(p.Spec, tensor.Shape{c, h, w})
		if err != nil || !slices.EqualFunc(p.Shapes, q.Shapes, slices.Equal) ||
			!slices.EqualFunc(append(p.Params, p.Buffers...), append(q.Params, q.Buffers...), func(a, b ParamShape) bool {
				return a.Name == b.Name && a.DType == b.DType && slices.Equal(a.Shape, b.Shape)
			}) {
			t.Fatalf("%q and its canonical form %q plan differently: %v", spec, p.Spec, err)
		}
	})
}
