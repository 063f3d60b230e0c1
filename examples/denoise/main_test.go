package main

import (
	"io"
	"math"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/internal/testenv"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
	"github.com/diynn/diynn/train"
)

// small is a run of well under a second on two cores: 1000 synthetic
// images, six epochs.
var small = options{synthetic: true, n: 1000, epochs: 6, seed: 1, hidden: 64}

var trainedOnce struct {
	sync.Once
	r   *result
	err error
}

// trained returns the small run, fitted once for the tests that read it.
func trained(t *testing.T) *result {
	t.Helper()
	trainedOnce.Do(func() { trainedOnce.r, trainedOnce.err = fit(cpu.New(), small, io.Discard) })
	if trainedOnce.err != nil {
		t.Fatal(trainedOnce.err)
	}
	return trainedOnce.r
}

// Trained through the masking hook, the autoencoder reconstructs clean
// test images far better than it did untrained.
func TestDenoiserLearns(t *testing.T) {
	r := trained(t)
	t.Logf("clean test BCE %.4f before training, %.4f after", r.before, r.after)
	// Untrained sigmoid outputs are near 1/2: BCE near ln 2 whatever the
	// image.
	if math.Abs(r.before-math.Ln2) > 0.05 {
		t.Errorf("untrained BCE %.4f, want about ln 2 = 0.693", r.before)
	}
	// 0.32 in practice; the margin is wide because the point is that it
	// learned, not how well.
	if !(r.after < 0.6*r.before) {
		t.Errorf("clean test BCE went from %.4f to %.4f: want it below 60%% of where it started", r.before, r.after)
	}
}

// In evaluation mode the network is a function: GaussianNoise and Dropout
// are off, so two evaluations agree to the bit. In training mode they are
// on, so two passes over the same images differ: the agreement is the
// mode's doing, not the absence of noise layers.
func TestEvaluationIsDeterministic(t *testing.T) {
	r := trained(t)
	l1, err := train.EvaluateReconstruction(r.m, r.test)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := train.EvaluateReconstruction(r.m, r.test)
	if err != nil {
		t.Fatal(err)
	}
	if l1 != l2 || l1 != r.after {
		t.Errorf("evaluations gave %v, then %v (after training: %v): want the same loss every time", l1, l2, r.after)
	}

	b := r.m.Params()[0].Value.Backend()
	x, err := tensor.FromSlice(b, r.test.X[:33*r.test.Features], append([]int{33}, r.test.SampleShape()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Free()
	pass := func(training bool) []float32 {
		nn.SetTraining(r.m, training)
		out, err := r.m.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		v, err := out.Data()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if a, b := pass(false), pass(false); !equal(a, b) {
		t.Error("two forward passes in evaluation mode differ")
	}
	if a, b := pass(true), pass(true); equal(a, b) {
		t.Error("two forward passes in training mode agree: GaussianNoise and Dropout are not active")
	}
	nn.SetTraining(r.m, false)
}

func equal(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// The hook masks a fraction 1-maskKeep of the pixels, writes every value
// of its output (poisoned with NaN first), draws a fresh mask for each
// batch, gives the clean batch as rows for the target, handles a short
// last batch, and allocates nothing in the steady state.
func TestMaskingHook(t *testing.T) {
	b := cpu.New()
	const rows, c, h, w = 257, 1, 7, 7
	ones := make([]float32, rows*c*h*w)
	for i := range ones {
		ones[i] = 1
	}
	x, err := tensor.FromSlice(b, ones, rows, c, h, w)
	if err != nil {
		t.Fatal(err)
	}
	m := newMasker(b, maskKeep, 1)
	if err := tensor.Ensure(&m.noisy, b, x.Shape()...); err != nil {
		t.Fatal(err)
	}
	b.Fill(x.Len(), float32(math.NaN()), m.noisy.Buffer())

	var masks [2][]float32
	for k := range masks {
		in, target, err := m.transform(x, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(in.Shape(), x.Shape()) || !slices.Equal(target.Shape(), tensor.Shape{rows, c * h * w}) {
			t.Fatalf("input %v and target %v for a batch %v, want %v and (%d×%d)", in.Shape(), target.Shape(), x.Shape(), x.Shape(), rows, c*h*w)
		}
		if target.Buffer() != x.Buffer() {
			t.Fatal("the target is not the clean batch")
		}
		if masks[k], err = in.Data(); err != nil {
			t.Fatal(err)
		}
		zeros := 0
		for i, v := range masks[k] {
			if v != 0 && v != 1 {
				t.Fatalf("batch %d: value %d is %v, want 0 or 1 (1·mask)", k, i, v)
			}
			if v == 0 {
				zeros++
			}
		}
		// Binomial: the fraction's standard deviation is
		// √(0.3·0.7/12593) = 0.0041; ±0.02 is five of them.
		if frac := float64(zeros) / float64(len(masks[k])); math.Abs(frac-(1-maskKeep)) > 0.02 {
			t.Errorf("batch %d: %.4f of the pixels masked, want %.2f ± 0.02", k, frac, 1-maskKeep)
		}
	}
	if equal(masks[0], masks[1]) {
		t.Error("two batches got the same mask")
	}

	if err := x.Resize(33, c, h, w); err != nil {
		t.Fatal(err)
	}
	if _, target, err := m.transform(x, nil); err != nil || !slices.Equal(target.Shape(), tensor.Shape{33, c * h * w}) {
		t.Fatalf("short batch: target %v, error %v; want (33×%d)", target.Shape(), err, c*h*w)
	}
	if allocs := testing.AllocsPerRun(20, func() { m.transform(x, nil) }); allocs != 0 {
		t.Errorf("the hook allocates %v times a batch, want 0", allocs)
	}
}

// On the real data, when it is at hand (and always in CI), a few thousand
// Fashion-MNIST images and two epochs are enough to show the same.
func TestDenoiserOnFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("loads Fashion-MNIST")
	}
	dir := testenv.DataDir(t)
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	r, err := fit(cpu.New(), options{dataDir: dir, n: 3000, epochs: 2, seed: 1, hidden: 64}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.train.Name != "fashion-mnist" {
		t.Fatalf("trained on %s, want fashion-mnist", r.train.Name)
	}
	if !(r.after < 0.75*r.before) {
		t.Errorf("clean test BCE went from %.4f to %.4f: want it below 75%% of where it started", r.before, r.after)
	}
}
