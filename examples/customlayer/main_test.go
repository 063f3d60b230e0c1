package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/nn/nntest"
	"github.com/diynn/diynn/tensor"
)

// newScale returns a Scale of n factors drawn in [-2, 2): away from 1, so
// that an input gradient that forgot s would be caught.
func newScale(t *testing.T, b backend.Backend, n int, seed uint64) *Scale {
	t.Helper()
	s, err := NewScale(b, n)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.Float64()*4 - 2)
	}
	if err := s.S.Value.Set(v); err != nil {
		t.Fatal(err)
	}
	return s
}

// Scale's gradients agree with central differences, for rows and for an
// image-shaped input, at awkward sizes, and as part of a network.
func TestScaleGradients(t *testing.T) {
	b := cpu.New()
	for _, shape := range [][]int{{1, 1}, {7, 5}, {3, 33}, {4, 2, 3, 3}} {
		n := 1
		for _, d := range shape[1:] {
			n *= d
		}
		nntest.CheckModule(t, b, newScale(t, b, n, uint64(n)), shape...)
	}
	l, err := nn.NewLinear(b, 6, 3, nn.InitXavier, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	// In a Sequential, Scale is first, so Sequential calls its
	// AccGradParameters: the checker sees the same parameter gradient.
	nntest.CheckModule(t, b, nn.NewSequential(newScale(t, b, 6, 6), nn.Tanh(), l), 5, 6)
}

// brokenScale is Scale with a Backward that is wrong in one way.
type brokenScale struct {
	*Scale
	how string
}

func (s *brokenScale) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	b, rows, n := x.Backend(), x.Rows(), s.N
	if err := tensor.Ensure(&s.prod, b, x.Shape()...); err != nil {
		return nil, err
	}
	if err := tensor.Ensure(&s.dx, b, x.Shape()...); err != nil {
		return nil, err
	}
	switch s.how {
	case "ds forgets x":
		b.SumRows(rows, n, gradOut.Buffer(), 1, s.S.Grad.Buffer())
	case "ds overwrites instead of accumulating":
		b.Mul(x.Len(), gradOut.Buffer(), x.Buffer(), s.prod.Buffer())
		b.SumRows(rows, n, s.prod.Buffer(), 0, s.S.Grad.Buffer())
	default: // the right ds
		b.Mul(x.Len(), gradOut.Buffer(), x.Buffer(), s.prod.Buffer())
		b.SumRows(rows, n, s.prod.Buffer(), 1, s.S.Grad.Buffer())
	}
	if s.how == "dx forgets s" {
		b.Copy(x.Len(), gradOut.Buffer(), s.dx.Buffer())
	} else {
		b.MulRowVector(rows, n, s.S.Value.Buffer(), gradOut.Buffer(), s.dx.Buffer())
	}
	return s.dx, b.Err()
}

// The gradient checker refuses a Scale whose Backward is wrong, naming the
// gradient at fault and the layer; the same code with the right Backward
// passes, so the failures are the mistakes', not the checker's.
func TestCheckRefusesBrokenScale(t *testing.T) {
	b := cpu.New()
	shape := []int{7, 5}
	if err := nntest.Check(b, &brokenScale{Scale: newScale(t, b, 5, 1), how: "right"}, shape, nntest.Options{}); err != nil {
		t.Fatalf("the test's own correct Backward fails: %v", err)
	}
	for _, c := range []struct{ how, want string }{
		{"ds forgets x", "gradient of weight"},
		{"ds overwrites instead of accumulating", "after a second Backward (accumulated"},
		{"dx forgets s", "input gradient"},
	} {
		t.Run(c.how, func(t *testing.T) {
			err := nntest.Check(b, &brokenScale{Scale: newScale(t, b, 5, 2), how: c.how}, shape, nntest.Options{})
			if err == nil {
				t.Fatalf("Check accepted a Scale whose Backward %s", c.how)
			}
			if msg := err.Error(); !strings.Contains(msg, c.want) || !strings.Contains(msg, "Scale(5)") {
				t.Fatalf("error %q does not name %q and the layer", msg, c.want)
			}
		})
	}
}

// helperEnv names the model file that TestHelperProcess loads; without it
// that test does nothing.
const helperEnv = "DIYNN_CUSTOMLAYER_MODEL"

// TestHelperProcess is not a test: TestSaveLoadInFreshProcess runs the
// test binary again with only this test, as the fresh process that loads
// the model. It prints what `customlayer -load FILE` prints, then the bits
// of every output, and exits before the testing package prints anything.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("run by TestSaveLoadInFreshProcess")
	}
	if err := printFile(os.Stdout, cpu.New(), path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// A model with the custom layer trains with early stopping, is saved, and
// a fresh process — which knows Scale only through the registration in
// init — loads it and prints predictions identical, byte for byte, to
// those of the model that was trained.
func TestSaveLoadInFreshProcess(t *testing.T) {
	const seed = 1
	b := cpu.New()
	m, hist, err := fit(b, seed, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if best := hist.Best(0); len(hist) >= 400 || best == 0 || len(hist)-best != 25 {
		t.Errorf("ran %d of 400 epochs, best %d: early stopping (patience 25) did not stop the run", len(hist), best)
	}
	// The factors must have moved from 1, else a file that lost them would
	// load as the identity and still agree.
	factors, err := m.Params()[0].Value.Data()
	if err != nil {
		t.Fatal(err)
	}
	moved := 0.0
	for _, f := range factors {
		moved = math.Max(moved, math.Abs(float64(f)-1))
	}
	if moved < 0.05 {
		t.Errorf("the scale factors %v stayed at 1: training did not reach the custom layer", factors)
	}

	path := filepath.Join(t.TempDir(), "iris.safetensors")
	if err := m.Save(path, map[string]string{metaSeed: fmt.Sprint(seed)}); err != nil {
		t.Fatal(err)
	}
	_, _, test, err := splits(seed)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	fmt.Fprintf(&want, "loaded %s\n", path)
	p, err := printModel(&want, m, test, test.N)
	if err != nil {
		t.Fatal(err)
	}
	if acc := accuracy(p, test); acc < 0.9 {
		t.Errorf("test accuracy %.3f, want at least 0.9", acc)
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("the fresh process failed: %v\n%s", err, stderr.Bytes())
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("the fresh process printed\n%s\nthe trained model gives\n%s", got, want.Bytes())
	}
	if !bytes.Contains(got, []byte(`spec "scale(4) linear(4,16,xavier)`)) || !bytes.Contains(got, []byte(`classes ["Iris-setosa" "Iris-versicolor" "Iris-virginica"]`)) {
		t.Errorf("the fresh process did not print the spec and the class names:\n%s", got)
	}
}
