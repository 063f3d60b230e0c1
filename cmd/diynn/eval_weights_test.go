package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

// fakeFashionTest writes a Fashion-MNIST test split of n varied 28×28
// images, labelled 0, 1, …, 9, 0, …, in a directory of its own.
func fakeFashionTest(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	images := idxBytes([]int{n, 28, 28}, func(i int) byte { return byte((i*37 + i/784*11) % 251) })
	labels := idxBytes([]int{n}, func(i int) byte { return byte(i % 10) })
	for name, b := range map[string][]byte{"t10k-images-idx3-ubyte": images, "t10k-labels-idx1-ubyte": labels} {
		idxFile(t, filepath.Join(dir, name+".gz"), nil, true, func([]byte) []byte { return b })
	}
	return dir
}

// eval -model SPEC -weights FILE measures a CNN whose weights, batch-norm
// statistics included, come from a file without diynn's metadata (as
// PyTorch writes a state_dict), and gives the loss that eval of the same
// network's diynn model file gives.
func TestEvalWeights(t *testing.T) {
	dataDir := fakeFashionTest(t, 23)
	const spec = "conv(1,2,3,stride=2) batchnorm2d(2) relu maxpool(2) flatten linear(72,10)"
	b := cpu.New()
	m, err := model.BuildFor(b, spec, tensor.Shape{1, 28, 28}, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	x, _ := tensor.Uniform(b, rand.New(rand.NewPCG(1, 1)), 0, 1, 5, 1, 28, 28)
	if _, err := m.Forward(x); err != nil { // running statistics move
		t.Fatal(err)
	}
	dir := t.TempDir()
	modelFile := filepath.Join(dir, "model.safetensors")
	if err := m.Save(modelFile, map[string]string{"data": "fashion-mnist"}); err != nil {
		t.Fatal(err)
	}
	ts, err := m.Tensors()
	if err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(dir, "weights.safetensors")
	if err := safetensors.WriteFile(weights, &safetensors.File{Tensors: ts}); err != nil {
		t.Fatal(err)
	}
	common := []string{"-data", "fashion-mnist", "-data-dir", dataDir, "-no-download"}
	loss := regexp.MustCompile(`\(test split, 23 samples\): loss ([0-9.]+)`)
	code, fromFile, stderr := runCLI(append([]string{"eval", "-model", modelFile}, common...)...)
	if code != 0 || loss.FindStringSubmatch(fromFile) == nil {
		t.Fatalf("eval -model FILE: exit %d\n%s\n%s", code, fromFile, stderr)
	}
	code, fromWeights, stderr := runCLI(append([]string{"eval", "-model", spec, "-weights", weights}, common...)...)
	if code != 0 || loss.FindStringSubmatch(fromWeights) == nil {
		t.Fatalf("eval -model SPEC -weights FILE: exit %d\n%s\n%s", code, fromWeights, stderr)
	}
	if a, b := loss.FindStringSubmatch(fromFile)[1], loss.FindStringSubmatch(fromWeights)[1]; a != b || !strings.Contains(fromWeights, "macro avg") {
		t.Errorf("eval gives loss %s from the model file, %s from its weights\n%s", a, b, fromWeights)
	}

	// Usage errors, each before any data is read where it can be.
	other := strings.Replace(spec, "linear(72,10)", "linear(72,5) relu linear(5,10)", 1)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-model", modelFile, "-weights", weights}, "not with the model file " + modelFile},
		{[]string{"-model", "runs/x/model.safetensors", "-weights", weights}, "not with the model file"},
		{[]string{"-weights", weights, "-data", "fashion-mnist"}, "-weights needs -model SPEC"},
		{[]string{"-model", spec, "-weights", weights}, "pass -data"},
		{append([]string{"-model", spec}, common...), "is a spec, not a model file: give the network's weights with -weights FILE"},
		{append([]string{"-model", "linear(784,10)"}, common...), "is a spec, not a model file"},
		{[]string{"-model", spec + " bogus", "-weights", weights, "-data", "fashion-mnist"}, `unknown layer "bogus"`},
		{append([]string{"-model", spec, "-weights", filepath.Join(dir, "absent.safetensors")}, common...), "absent.safetensors"},
		{append([]string{"-model", other, "-weights", weights}, common...), `tensor "5.weight" has shape (10×72), the model needs (5×72)`},
		{append([]string{"-model", strings.Replace(spec, "conv(1,2,3,stride=2)", "conv(1,2,3,stride=2,pad=1)", 1), "-weights", weights}, common...),
			"linear(72,10) takes 72 inputs but the layer before gives 98"},
		{append([]string{"-model", spec, "-weights", weights, "-split", "both"}, common...), `-split "both"`},
	} {
		code, _, stderr := runCLI(append([]string{"eval"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("eval %q: exit %d, stderr %q\nwant exit 2 and %q", c.args, code, stderr, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "absent.safetensors")); err == nil {
		t.Error("eval created the missing weights file")
	}
}
