package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// dropoutNet is a Go-built Sequential with Dropout (no model.Model around
// it): its weights drawn from init, its Dropout seeded with dropSeed.
func dropoutNet(t *testing.T, init, dropSeed uint64) *nn.Sequential {
	t.Helper()
	rng := rand.New(rand.NewPCG(init, 1))
	b := cpu.New()
	l1, err1 := nn.NewLinear(b, 2, 16, nn.InitDefault, rng)
	drop, err2 := nn.NewDropout(0.3, dropSeed)
	l2, err3 := nn.NewLinear(b, 16, 4, nn.InitDefault, rng)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	return nn.NewSequential(l1, nn.Tanh(), drop, l2)
}

// A Sequential with Dropout, interrupted in the middle of an epoch and
// resumed in a fresh one, ends bit for bit where an uninterrupted run
// does: the checkpoint holds the position, and Fit's reseeding per step
// makes the resumed run draw the masks it would have drawn. (Without the
// reseed the fresh Dropout would restart its stream and the weights would
// differ.) The resumed net starts from other weights: the checkpoint's
// replace them. Its Dropout has the same seed, as a net built the same way
// does: Dropout mixes its own seed with Fit's.
func TestSequentialWithDropoutResumesExactly(t *testing.T) {
	dir := t.TempDir()
	tr, ev := dots(t, 200, 1), dots(t, 60, 2)
	cfg := func(ckpt string) Config {
		return Config{Epochs: 3, Batch: 32, Optimizer: nn.NewAdam(0.01), Seed: 3, Checkpoint: ckpt, Resume: true,
			Schedule: nn.Warmup{Steps: 5, Then: nn.Cosine{Epochs: 3, MinFactor: 0.1, PerStep: true}}, ClipNorm: 0.5,
			EvalName: "validation"}
	}
	straight := dropoutNet(t, 7, 7)
	h1, err := Fit(straight, tr, ev, cfg(filepath.Join(dir, "a.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	// Stop after the 10th step (epoch 2, step 3 of 7): Transform runs once
	// a step, before it, and the loop looks at the context after it.
	ckpt := filepath.Join(dir, "b.safetensors")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := cfg(ckpt)
	c.Context = ctx
	calls := 0
	c.Transform = func(x, y *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, error) {
		if calls++; calls == 10 {
			cancel()
		}
		return x, y, nil
	}
	if _, err := Fit(dropoutNet(t, 7, 7), tr, ev, c); !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "epoch 2, step 3") {
		t.Fatalf("interrupted run: %v, want ErrInterrupted at epoch 2, step 3", err)
	}
	resumed := dropoutNet(t, 99, 7) // other initial weights: the checkpoint's replace them
	h2, err := Fit(resumed, tr, ev, cfg(ckpt))
	if err != nil {
		t.Fatal(err)
	}
	if len(h1) != len(h2) {
		t.Fatalf("%d epochs resumed, %d straight", len(h2), len(h1))
	}
	for i := range h1 {
		a, b := h1[i], h2[i]
		a.Seconds, b.Seconds, a.Elapsed, b.Elapsed = 0, 0, 0, 0
		a.TrainAcc, b.TrainAcc = 0, 0 // NaN: not measured
		if a != b {
			t.Errorf("epoch %d: resumed %#v, uninterrupted %#v", i+1, b, a)
		}
	}
	p1, p2 := straight.Params(), resumed.Params()
	for i := range p1 {
		a, _ := p1[i].Value.Data()
		b, _ := p2[i].Value.Data()
		if !slices.Equal(a, b) {
			t.Errorf("%s differs between the resumed and the uninterrupted run", p1[i].Name)
		}
	}
}

// A Transform (or EvalTransform) that returns no tensor is an error that
// names it, not a crash in the network's Forward.
func TestTransformReturningNilIsAnError(t *testing.T) {
	none := func(x, y *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, error) { return nil, y, nil }
	d := dots(t, 64, 1)
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"Transform", Config{Transform: none}, "epoch 1, step 1: Transform: returned a nil tensor"},
		{"EvalTransform", Config{EvalTransform: none}, "epoch 1: evaluating on the eval set: EvalTransform: returned a nil tensor"},
	} {
		c.cfg.Epochs, c.cfg.Batch, c.cfg.Optimizer = 1, 32, nn.NewSGD(0.1)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s returning nil: panic %v", c.name, r)
				}
			}()
			if _, err := Fit(dropoutNet(t, 1, 1), d, d, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s returning nil: %v, want %q", c.name, err, c.want)
			}
		}()
	}
}

// Evaluating on no data is refused with a message, not a crash or a NaN
// loss: nil or empty to Evaluate and EvaluateReconstruction, an empty
// evaluation set to Fit.
func TestEvaluationNeedsSamples(t *testing.T) {
	net, d := dropoutNet(t, 1, 1), dots(t, 64, 1)
	empty := d.Subset(nil)
	checks := map[string]func() error{
		"Evaluate(nil)":               func() error { _, _, _, err := Evaluate(net, nil); return err },
		"Evaluate(empty)":             func() error { _, _, _, err := Evaluate(net, empty); return err },
		"EvaluateReconstruction(nil)": func() error { _, err := EvaluateReconstruction(net, nil); return err },
		"Fit with an empty eval set": func() error {
			_, err := Fit(net, d, empty, Config{Epochs: 1, Batch: 32, Optimizer: nn.NewSGD(0.1)})
			return err
		},
		"PredictRows(nothing)": func() error { _, err := PredictRows(net, nil, 2); return err },
	}
	for name, f := range checks {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic %v", name, r)
				}
			}()
			if err := f(); err == nil || !strings.Contains(err.Error(), "no ") {
				t.Errorf("%s: %v, want an error saying there is no data", name, err)
			}
		}()
	}
}

// A schedule that gives a negative or non-finite rate stops Fit at the
// step, naming the schedule, instead of training uphill: Cosine with a
// negative MinFactor reaches it in the second epoch.
func TestFitRefusesABadRate(t *testing.T) {
	for _, s := range []nn.Schedule{nn.Cosine{Epochs: 1, MinFactor: -5}, nn.Exponential{Gamma: -1}, nn.Exponential{Gamma: math.Inf(1)}} {
		h, err := Fit(dropoutNet(t, 1, 1), dots(t, 64, 1), nil, Config{Epochs: 3, Batch: 32, Optimizer: nn.NewSGD(0.1), Schedule: s, MaxLoss: -1})
		if err == nil || !strings.Contains(err.Error(), "epoch 2, step 1: the schedule") || len(h) != 1 {
			t.Errorf("%#v: %d epochs, %v; want a refusal at epoch 2, step 1", s, len(h), err)
		}
	}
}
