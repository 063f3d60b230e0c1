package model

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

func TestParse(t *testing.T) {
	cases := []struct {
		spec, canonical string
		errPos          int // 1-based column, 0 for success
		errMsg          string
	}{
		{"linear(784,176) tanh linear(176,42) relu linear(42,10)", "linear(784,176) tanh linear(176,42) relu linear(42,10)", 0, ""},
		{"  Linear( 4 , 3 , xavier )   LeakyReLU(0.01) ", "linear(4,3,xavier) leakyrelu(0.01)", 0, ""},
		{"linear(4,3) tied(0) sigmoid", "linear(4,3) tied(0) sigmoid", 0, ""},
		{"linear(4,3) Concat[ tied(0) sigmoid|linear(3,2)] ", "linear(4,3) concat[tied(0) sigmoid | linear(3,2)]", 0, ""},
		{"linear(4,3) concat[tied(0) | linear(3,2)", "", 19, "unclosed '['"},
		{"", "", 1, "empty spec"},
		{"linear(784,176) tanhh", "", 17, `unknown layer "tanhh"`},
		{"linear(784)", "", 1, "takes 2 or 3 arguments"},
		{"linear(784,x)", "", 12, `"x" is not a number`},
		{"linear(784,1.5)", "", 12, "positive integer"},
		{"linear(0,3)", "", 8, "positive integer"},
		{"linear(4,3,he)", "", 12, "init"},
		{"relu(2)", "", 1, "takes 0 arguments"},
		{"linear(4,3", "", 7, "unclosed"},
		{"linear(4,3)relu", "", 12, "expected a space"},
		{"linear(4,3) 7", "", 13, "expected a layer name"},
		{"leakyrelu(NaN)", "", 11, "not a number"},
		{"linear(16384,16384)", "linear(16384,16384)", 0, ""}, // 2²⁸ weights: the most allowed
		{"tanh linear(30000,30000)", "", 6, "linear(30000,30000) has 900000000 weights, more than the 268435456 (1.1 GB as float32) one layer may have"},
		{"linear(16385,16384)", "", 1, "linear(16385,16384) has 268451840 weights, more than the 268435456"},
		{"linear(1000000000,1000000000)", "", 1, "linear(1000000000,1000000000) has 1000000000000000000 weights"},
	}
	for _, c := range cases {
		layers, err := Parse(c.spec)
		if c.errPos == 0 {
			if err != nil {
				t.Errorf("Parse(%q): %v", c.spec, err)
			} else if got := Format(layers); got != c.canonical {
				t.Errorf("Parse(%q) = %q, want %q", c.spec, got, c.canonical)
			}
			continue
		}
		var se *SpecError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): error %v, want a SpecError", c.spec, err)
			continue
		}
		if se.Pos+1 != c.errPos || !strings.Contains(se.Msg, c.errMsg) {
			t.Errorf("Parse(%q): column %d %q, want column %d mentioning %q", c.spec, se.Pos+1, se.Msg, c.errPos, c.errMsg)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("linear(784,176) tanh linear(176,42) relu linear(42,10)")
	f.Add("linear(4,3,xavier) leakyrelu(0.1) tied(0) sigmoid")
	f.Add("linear(4,3) concat[tied(0) sigmoid | concat[relu | linear(3,2)] tanh]")
	// Named arguments, defaults and implied values (maxpool's stride).
	f.Add("conv(1,32,3,pad=1,bias=false) batchnorm2d(32,eps=0.001,momentum=0.2) relu maxpool(2,stride=2) flatten linear(6272,10)")
	f.Add("convtranspose(4,2,3,stride=2,pad=1,outpad=1) avgpool(3,stride=1,pad=1) globalavgpool reshape(2,1,1) batchnorm1d(2)")
	f.Fuzz(func(t *testing.T, spec string) {
		layers, err := Parse(spec)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(spec) {
				t.Fatalf("bad error %v", err)
			}
			_ = se.Error()
			return
		}
		again, err := Parse(Format(layers))
		if err != nil || Format(again) != Format(layers) {
			t.Fatalf("canonical form %q does not reparse: %v", Format(layers), err)
		}
	})
}

func TestBuildChecksWidths(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct{ spec, want string }{
		{"linear(4,3) tanh linear(4,2)", "takes 4 inputs but the layer before gives 3"},
		{"tanh relu", "no linear layer"},
		{"linear(4,3) tied(1)", "earlier linear"},
		{"linear(4,3) relu linear(3,2) tied(0)", "tied(0) takes 3 inputs"},
	} {
		_, err := Build(b, c.spec, rng)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(%q): %v, want %q", c.spec, err, c.want)
		}
	}
	for name, p := range Presets {
		pl, err := p.Plan()
		if err != nil {
			t.Errorf("preset %s: %v", name, err)
			continue
		}
		m, err := pl.Build(b, rng)
		if err != nil {
			t.Errorf("preset %s: %v", name, err)
			continue
		}
		if m.Outputs < 3 {
			t.Errorf("preset %s: %d outputs", name, m.Outputs)
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(2, 2))
	for _, spec := range []string{Presets["fmnist-relu"].Spec, "linear(7,3,kaiming) leakyrelu(0.1) tied(0) sigmoid"} {
		m, err := Build(b, spec, rng)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "m.safetensors")
		if err := m.Save(path, map[string]string{"epoch": "3"}); err != nil {
			t.Fatal(err)
		}
		m2, f, err := Load(b, path)
		if err != nil {
			t.Fatal(err)
		}
		if m2.Spec != m.Spec || f.Metadata["epoch"] != "3" {
			t.Errorf("spec %q metadata %v", m2.Spec, f.Metadata)
		}
		p1, p2 := m.Net.Params(), m2.Net.Params()
		for i := range p1 {
			v1, _ := p1[i].Value.Data()
			v2, _ := p2[i].Value.Data()
			if !slices.Equal(v1, v2) {
				t.Errorf("%s differs after the round trip", p1[i].Name)
			}
		}
		x, _ := tensor.Uniform(b, rng, 0, 1, 5, m.Inputs)
		o1, _ := m.Net.Forward(x)
		d1, _ := o1.Data()
		o2, _ := m2.Net.Forward(x)
		d2, _ := o2.Data()
		if !slices.Equal(d1, d2) {
			t.Error("the loaded model computes different outputs")
		}
	}
}

func TestLoadRejectsForeignFiles(t *testing.T) {
	b := cpu.New()
	m, _ := Build(b, "linear(3,2)", rand.New(rand.NewPCG(1, 1)))
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	m.Save(path, nil)
	f, _ := safetensors.ReadFile(path)
	f.Metadata["spec"] = "linear(3,4)" // a spec its tensors do not fit
	safetensors.WriteFile(path, f)
	if _, _, err := Load(b, path); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("error %v, want a shape mismatch", err)
	}
}

// A file's format, when its metadata gives one, must be FileFormat; a file
// without one (older, or made by hand) is read by its spec.
func TestPlanFileChecksFormat(t *testing.T) {
	tensors := []safetensors.Tensor{{Name: "0.weight", Shape: []int{2, 3}, Data: make([]float32, 6)}, {Name: "0.bias", Shape: []int{2}, Data: make([]float32, 2)}}
	cases := []struct {
		name string
		meta map[string]string
		want string // the error; "" for success
	}{
		{"current", map[string]string{"format": "diynn/1", "spec": "linear(3,2)"}, ""},
		{"no format", map[string]string{"spec": "linear(3,2)"}, ""},
		{"newer", map[string]string{"format": "diynn/9", "spec": "linear(3,2)"}, `format "diynn/9": this diynn reads "diynn/1" (written by a newer diynn?)`},
		{"empty format", map[string]string{"format": "", "spec": "linear(3,2)"}, `format "": this diynn reads "diynn/1" (not written by diynn?)`},
		{"other program", map[string]string{"format": "pt", "spec": "linear(3,2)"}, `format "pt": this diynn reads "diynn/1" (not written by diynn?)`},
		{"older or odd version", map[string]string{"format": "diynn/0", "spec": "linear(3,2)"}, `format "diynn/0": this diynn reads "diynn/1" (not written by diynn?)`},
		{"unversioned", map[string]string{"format": "diynn", "spec": "linear(3,2)"}, `format "diynn": this diynn reads "diynn/1" (not written by diynn?)`},
		{"newer, no spec", map[string]string{"format": "diynn/2"}, `format "diynn/2": this diynn reads "diynn/1" (written by a newer diynn?)`},
		{"no spec", map[string]string{"format": "diynn/1"}, `no "spec" in the safetensors metadata: not a diynn model`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := PlanFile(&safetensors.File{Tensors: tensors, Metadata: c.meta})
			if c.want == "" {
				if err != nil || p.Spec != "linear(3,2)" {
					t.Fatalf("plan %v, error %v", p, err)
				}
				return
			}
			if err == nil || err.Error() != c.want {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	// Load says which file.
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := safetensors.WriteFile(path, &safetensors.File{Tensors: tensors, Metadata: map[string]string{"format": "diynn/9", "spec": "linear(3,2)"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(cpu.New(), path); err == nil || err.Error() != path+`: format "diynn/9": this diynn reads "diynn/1" (written by a newer diynn?)` {
		t.Errorf("Load: %v", err)
	}
}
