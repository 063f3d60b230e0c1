package model_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/internal/testenv"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

// torchSpec is the network of testdata/torch_roundtrip.py, for 1×10×10
// images: every kind of layer a PyTorch CNN's state_dict carries (convs
// with and without bias, batch norm of images and of features with their
// running statistics and int64 counts, pools, flatten, linear).
const torchSpec = "conv(1,4,3,pad=1) batchnorm2d(4) relu maxpool(2) conv(4,6,3,stride=2,bias=false) " +
	"batchnorm2d(6,momentum=0.2) relu avgpool(2,stride=1) flatten linear(6,8) batchnorm1d(8) relu linear(8,5)"

var torchImage = tensor.Shape{1, 10, 10}

// maxDiff is the largest |a−b| of two equally long slices.
func maxDiff(t *testing.T, a, b []float32) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d values against %d", len(a), len(b))
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		if a[i] != a[i] || b[i] != b[i] {
			return math.Inf(1)
		}
	}
	return d
}

func readTensor(t *testing.T, path, name string) safetensors.Tensor {
	t.Helper()
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	x, ok := f.Get(name)
	if !ok {
		t.Fatalf("%s has no tensor %q", path, name)
	}
	return x
}

// evalLogits runs m in evaluation mode on the images of x.
func evalLogits(t *testing.T, m *model.Model, x safetensors.Tensor) []float32 {
	t.Helper()
	in, err := tensor.FromSlice(m.Net.Params()[0].Value.Backend(), x.Data, x.Shape...)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	out, err := m.Forward(in)
	if err != nil {
		t.Fatal(err)
	}
	y, err := out.Data()
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// TestTorchRoundTrip runs testdata/torch_roundtrip.py with Debian's
// python3-torch: a PyTorch nn.Sequential's state_dict, saved as
// safetensors, loads into diynn with LoadWeights and gives PyTorch's
// logits; and a model file diynn saves loads into that nn.Sequential with
// load_state_dict(strict=True) and gives diynn's logits. Both to 1e-4.
func TestTorchRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch twice (a few seconds); CI runs it")
	}
	python := testenv.Python(t, "torch")
	dir := t.TempDir()
	script := filepath.Join("testdata", "torch_roundtrip.py")
	out, err := exec.Command(python, script, "export", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("torch_roundtrip.py export: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if spec, err := os.ReadFile(filepath.Join(dir, "spec.txt")); err != nil || strings.TrimSpace(string(spec)) != torchSpec {
		t.Fatalf("the script's network is %q (%v), this test's %q: keep the two in step", spec, err, torchSpec)
	}
	x := readTensor(t, filepath.Join(dir, "input.safetensors"), "x")
	torchY := readTensor(t, filepath.Join(dir, "logits.safetensors"), "y")

	// PyTorch → diynn.
	b := cpu.New()
	weights := filepath.Join(dir, "torch.safetensors")
	if n := readTensor(t, weights, "1.num_batches_tracked"); n.DType != safetensors.I64 || len(n.Shape) != 0 || n.Data[0] != 3 {
		t.Fatalf("PyTorch's num_batches_tracked reads as %+v, want a 0-dimensional I64 of 3", n)
	}
	m, err := model.LoadWeights(b, torchSpec, torchImage, weights)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Buffers()[2].Value.Data(); m.Buffers()[2].Name != "1.num_batches_tracked" || n[0] != 3 {
		t.Errorf("buffer %s = %v after loading, want 1.num_batches_tracked = 3", m.Buffers()[2].Name, n)
	}
	if d := maxDiff(t, evalLogits(t, m, x), torchY.Data); d > 1e-4 {
		t.Errorf("PyTorch's weights in diynn: logits differ from PyTorch's by %g, want ≤ 1e-4", d)
	} else {
		t.Logf("PyTorch → diynn: logits within %.2g", d)
	}

	// diynn → PyTorch: a freshly initialised model whose running statistics
	// moved in a few training-mode passes, saved by Save.
	m, err = model.BuildFor(b, torchSpec, torchImage, rand.New(rand.NewPCG(14, 14)))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2 {
		batch, err := tensor.Normal(b, rng, 0.5, 2, append([]int{16}, torchImage...)...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Forward(batch); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "diynn.safetensors")
	if err := m.Save(path, map[string]string{"data": "test"}); err != nil {
		t.Fatal(err)
	}
	if n := readTensor(t, path, "5.num_batches_tracked"); n.DType != safetensors.I64 || len(n.Shape) != 0 || n.Data[0] != 2 {
		t.Fatalf("diynn saved num_batches_tracked as %+v, want a 0-dimensional I64 of 2", n)
	}
	diynnY := evalLogits(t, m, x)
	got := filepath.Join(dir, "torch_logits.safetensors")
	out, err = exec.Command(python, script, "import", path, filepath.Join(dir, "input.safetensors"), got).CombinedOutput()
	if err != nil {
		t.Fatalf("torch_roundtrip.py import: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if d := maxDiff(t, readTensor(t, got, "y").Data, diynnY); d > 1e-4 {
		t.Errorf("diynn's model in PyTorch: logits differ from diynn's by %g, want ≤ 1e-4", d)
	} else {
		t.Logf("diynn → PyTorch: logits within %.2g", d)
	}

	// The file diynn wrote loads back into diynn, buffers and all.
	back, _, err := model.Load(b, path)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(t, evalLogits(t, back, x), diynnY); d != 0 {
		t.Errorf("Load of a saved CNN: logits differ by %g", d)
	}
}

// A spec that does not match the file is refused, naming the tensor.
func TestLoadWeightsChecks(t *testing.T) {
	dir := t.TempDir()
	b := cpu.New()
	m, err := model.BuildFor(b, torchSpec, torchImage, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := m.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	// As PyTorch writes it: no metadata.
	write := func(name string, ts []safetensors.Tensor) string {
		path := filepath.Join(dir, name)
		if err := safetensors.WriteFile(path, &safetensors.File{Tensors: ts}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.safetensors", ts)
	if _, err := model.LoadWeights(b, torchSpec, torchImage, good); err != nil {
		t.Fatalf("LoadWeights of the model's own tensors: %v", err)
	}
	without := func(name string) []safetensors.Tensor {
		var out []safetensors.Tensor
		for _, x := range ts {
			if x.Name != name {
				out = append(out, x)
			}
		}
		return out
	}
	nan := append([]safetensors.Tensor(nil), ts...)
	nan[0] = safetensors.Tensor{Name: nan[0].Name, Shape: nan[0].Shape, Data: append([]float32(nil), nan[0].Data...)}
	nan[0].Data[5] = float32(math.NaN())
	// changed is ts with tensor name changed by f, on a copy.
	changed := func(ts []safetensors.Tensor, name string, f func(*safetensors.Tensor)) []safetensors.Tensor {
		out := make([]safetensors.Tensor, len(ts))
		for i, x := range ts {
			x.Shape, x.Data = slices.Clone(x.Shape), slices.Clone(x.Data)
			if x.Name == name {
				f(&x)
			}
			out[i] = x
		}
		return out
	}
	// A one-value parameter, which a 0-dimensional tensor must not stand
	// for as it may for a count.
	one, err := model.Build(b, "linear(3,1)", rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	oneTs, err := one.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, spec string
		in         tensor.Shape
		ts         []safetensors.Tensor
		want       string
	}{
		{"missing buffer", torchSpec, torchImage, without("5.running_var"), `tensor "5.running_var" of conv(1,4,3,pad=1)`},
		{"extra tensor", torchSpec, torchImage, append(without(""), safetensors.Tensor{Name: "2.weight", Shape: []int{1}, Data: []float32{1}}),
			`tensor "2.weight" is not a parameter or buffer of conv(1,4,3,pad=1) batchnorm2d(4) relu`},
		{"wrong layer", strings.Replace(torchSpec, "conv(4,6,3,stride=2,bias=false)", "conv(4,6,3,stride=2)", 1), torchImage, ts,
			`tensor "4.bias" of conv(1,4,3,pad=1)`},
		{"wrong shape", strings.Replace(torchSpec, "linear(8,5)", "linear(8,4)", 1), torchImage, ts,
			`tensor "12.weight" has shape (5×8), the model needs (4×8)`},
		{"other images", torchSpec, tensor.Shape{1, 14, 14}, ts, "linear(6,8) takes 6 inputs but the layer before gives 24"},
		{"no input shape", torchSpec, nil, ts, "the model needs the data's sample shape"},
		{"not finite", torchSpec, torchImage, nan, fmt.Sprintf("tensor %s[5] is NaN", ts[0].Name)},
		{"0-dim bias", "linear(3,1)", nil, changed(oneTs, "0.bias", func(x *safetensors.Tensor) { x.Shape = []int{} }),
			`tensor "0.bias" has shape (), the model needs (1)`},
		{"count as F32", torchSpec, torchImage, changed(ts, "1.num_batches_tracked", func(x *safetensors.Tensor) { x.DType, x.Data[0] = safetensors.F32, 2.5 }),
			`tensor "1.num_batches_tracked" is F32 in the file, the model keeps it as I64`},
		{"negative count", torchSpec, torchImage, changed(ts, "5.num_batches_tracked", func(x *safetensors.Tensor) { x.Data[0] = -3 }),
			`tensor "5.num_batches_tracked"[0] is -3: a count cannot be negative`},
		{"weight as I64", torchSpec, torchImage, changed(ts, "12.bias", func(x *safetensors.Tensor) {
			x.DType = safetensors.I64
			for i := range x.Data {
				x.Data[i] = float32(i)
			}
		}), `tensor "12.bias" is I64 in the file, the model keeps it as F32 (weights and statistics are float32`},
		{"mean as I64", torchSpec, torchImage, changed(ts, "1.running_mean", func(x *safetensors.Tensor) { x.DType, x.Data = safetensors.I64, make([]float32, 4) }),
			`tensor "1.running_mean" is I64 in the file`},
	} {
		path := write(strings.ReplaceAll(c.name, " ", "_")+".safetensors", c.ts)
		fresh := cpu.New()
		_, err := model.LoadWeights(fresh, c.spec, c.in, path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: LoadWeights: %v\nwant an error containing %q", c.name, err, c.want)
		}
		if s := fresh.MemStats(); s.Allocs != 0 {
			t.Errorf("%s: LoadWeights allocated %d buffers before failing", c.name, s.Allocs)
		}
	}
	if _, err := model.LoadWeights(b, torchSpec, torchImage, filepath.Join(dir, "absent.safetensors")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("LoadWeights of a missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// Save writes batch norm's buffers as PyTorch names and types them, Load
// restores them (the eval-mode outputs are the same bits), and a file that
// lacks one is refused by name.
func TestSaveLoadBuffers(t *testing.T) {
	b := cpu.New()
	m, err := model.BuildFor(b, torchSpec, torchImage, rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(6, 6))
	for range 3 {
		batch, _ := tensor.Normal(b, rng, 1, 3, append([]int{9}, torchImage...)...)
		if _, err := m.Forward(batch); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path, nil); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata[model.MetaInput] != "[1,10,10]" {
		t.Errorf("metadata %q = %q, want [1,10,10]", model.MetaInput, f.Metadata[model.MetaInput])
	}
	for _, want := range []struct {
		name  string
		shape []int
		dtype safetensors.DType
		value float32 // of the first element, -1 for any but the initial
	}{
		{"1.running_mean", []int{4}, safetensors.F32, -1},
		{"1.running_var", []int{4}, safetensors.F32, -1},
		{"1.num_batches_tracked", []int{}, safetensors.I64, 3},
		{"10.running_var", []int{8}, safetensors.F32, -1},
		{"10.num_batches_tracked", []int{}, safetensors.I64, 3},
	} {
		got, ok := f.Get(want.name)
		if !ok || got.DType != want.dtype || fmt.Sprint(got.Shape) != fmt.Sprint(want.shape) {
			t.Errorf("%s: %+v, want shape %v, dtype %q", want.name, got, want.shape, want.dtype)
			continue
		}
		if want.value >= 0 && got.Data[0] != want.value {
			t.Errorf("%s = %v, want %v", want.name, got.Data, want.value)
		}
		if want.value < 0 && (got.Data[0] == 0 || got.Data[0] == 1) {
			t.Errorf("%s = %v: the running statistics did not move or were not saved", want.name, got.Data)
		}
	}
	x, _ := tensor.Uniform(b, rng, 0, 1, append([]int{3}, torchImage...)...)
	xs, _ := x.Data()
	in := safetensors.Tensor{Name: "x", Shape: x.Shape(), Data: xs}
	back, _, err := model.Load(b, path)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(t, evalLogits(t, back, in), evalLogits(t, m, in)); d != 0 {
		t.Errorf("the loaded model's outputs differ by %g", d)
	}
	// The running statistics and counts themselves, bit for bit.
	if got, want := back.Buffers(), m.Buffers(); len(got) != len(want) || len(got) != 9 {
		t.Errorf("%d buffers loaded, %d saved, want 9", len(got), len(want))
	} else {
		for i := range got {
			g, _ := got[i].Value.Data()
			w, _ := want[i].Value.Data()
			if got[i].Name != want[i].Name || !slices.Equal(g, w) {
				t.Errorf("buffer %s = %v after Load, %s = %v saved", got[i].Name, g, want[i].Name, w)
			}
		}
	}
	// Without a buffer, Load names it.
	var kept []safetensors.Tensor
	for _, x := range f.Tensors {
		if x.Name != "10.running_mean" {
			kept = append(kept, x)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	safetensors.WriteFile(bad, &safetensors.File{Tensors: kept, Metadata: f.Metadata})
	if _, _, err := model.Load(b, bad); err == nil || !strings.Contains(err.Error(), `tensor "10.running_mean"`) {
		t.Errorf("Load without a running mean: %v", err)
	}
}
