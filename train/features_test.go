package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

// relabel returns d with every class c renamed c+1 (mod classes): the
// better a network learns d, the worse it does on the result, so an
// evaluation loss on it rises while training goes well.
func relabel(d *data.Dataset) *data.Dataset {
	r := d.Subset(rand.Perm(d.N))
	for i, y := range r.Y {
		r.Y[i] = float32((int(y) + 1) % d.Classes())
	}
	return r
}

// Early stopping stops once the evaluation loss has not improved for
// Patience epochs, and leaves the weights of the best epoch: evaluating
// them gives exactly the loss that epoch recorded.
// With batch norm, the best epoch's running statistics come back with its
// weights: the loss would differ otherwise.
func TestEarlyStoppingRestoresTheBestEpoch(t *testing.T) {
	for _, spec := range []string{"linear(2,16) tanh linear(16,4)", "linear(2,16) batchnorm1d(16) tanh linear(16,4)"} {
		t.Run(spec, func(t *testing.T) { earlyStoppingRestoresTheBestEpoch(t, spec) })
	}
}

func earlyStoppingRestoresTheBestEpoch(t *testing.T, spec string) {
	m := build(t, spec)
	tr := dots(t, 400, 1)
	ev := relabel(dots(t, 200, 2))
	var out bytes.Buffer
	hist, err := Fit(m, tr, ev, Config{Epochs: 30, Batch: 32, Optimizer: nn.NewAdam(0.01), Seed: 1,
		EarlyStopping: &EarlyStopping{Patience: 3}, Progress: &out, EvalName: "validation"})
	if err != nil {
		t.Fatal(err)
	}
	best := hist.Best(0)
	if best == 0 || len(hist) != best+3 || len(hist) == 30 {
		t.Fatalf("best epoch %d of %d: want a stop 3 epochs after the best, before epoch 30:\n%s", best, len(hist), out.String())
	}
	if best == len(hist) {
		t.Fatal("the best epoch is the last: the test shows nothing")
	}
	loss, _, _, err := Evaluate(m, ev)
	if err != nil {
		t.Fatal(err)
	}
	if loss != hist[best-1].EvalLoss {
		t.Errorf("after early stopping the weights give loss %v, epoch %d recorded %v (the last epoch %v)", loss, best, hist[best-1].EvalLoss, hist[len(hist)-1].EvalLoss)
	}
	if !strings.Contains(out.String(), "early stopping: the validation loss has not improved for 3 epochs") {
		t.Errorf("progress does not say why it stopped:\n%s", out.String())
	}
	if _, err := Fit(m, tr, nil, Config{Epochs: 2, Batch: 32, Optimizer: nn.NewAdam(0.01), EarlyStopping: &EarlyStopping{Patience: 3}}); err == nil {
		t.Error("early stopping without an evaluation set was accepted")
	}
}

// A run with early stopping interrupted and resumed stops at the same
// epoch with the same weights as one never interrupted: the best weights
// and the best epoch travel in the checkpoint.
func TestEarlyStoppingSurvivesResume(t *testing.T) {
	dir := t.TempDir()
	tr, ev := dots(t, 300, 1), relabel(dots(t, 100, 2))
	cfg := func(ckpt string) Config {
		return Config{Epochs: 30, Batch: 32, Optimizer: nn.NewAdam(0.01), Seed: 9, Checkpoint: ckpt, Resume: true,
			EarlyStopping: &EarlyStopping{Patience: 4, MinDelta: 1e-4}}
	}
	straight := build(t, "linear(2,8) tanh linear(8,4)")
	h1, err := Fit(straight, tr, ev, cfg(filepath.Join(dir, "a.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	best := h1.Best(1e-4)
	if len(h1) == 30 || best >= len(h1)-1 {
		t.Fatalf("best epoch %d of %d: the test needs a stop after an interruption past the best", best, len(h1))
	}
	ckpt := filepath.Join(dir, "b.safetensors")
	ctx, cancel := context.WithCancel(context.Background())
	c := cfg(ckpt)
	c.Context = ctx
	c.OnEpoch = func(h History) error {
		if len(h) == best+1 { // past the best, before the stop
			cancel()
		}
		return nil
	}
	if _, err := Fit(build(t, "linear(2,8) tanh linear(8,4)"), tr, ev, c); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted run: %v", err)
	}
	cancel()
	resumed := build(t, "linear(2,8) tanh linear(8,4)")
	h2, err := Fit(resumed, tr, ev, cfg(ckpt))
	if err != nil {
		t.Fatal(err)
	}
	if len(h2) != len(h1) {
		t.Fatalf("resumed run stopped after %d epochs, the straight one after %d", len(h2), len(h1))
	}
	sameWeights(t, straight, resumed)
	// Resuming the checkpoint of a run that stopped early trains no more.
	again := build(t, "linear(2,8) tanh linear(8,4)")
	h3, err := Fit(again, tr, ev, cfg(ckpt))
	if err != nil || len(h3) != len(h1) {
		t.Fatalf("resuming a stopped run: %d epochs, %v; want %d and no error", len(h3), err, len(h1))
	}
	sameWeights(t, straight, again)
	// A checkpoint without the best epoch's weights is refused.
	f, err := safetensors.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	f.Tensors = slices.DeleteFunc(f.Tensors, func(t safetensors.Tensor) bool { return strings.HasPrefix(t.Name, bestPrefix) })
	if err := safetensors.WriteFile(ckpt, f); err != nil {
		t.Fatal(err)
	}
	if _, err := Fit(build(t, "linear(2,8) tanh linear(8,4)"), tr, ev, cfg(ckpt)); !errors.Is(err, ErrBadCheckpoint) || !strings.Contains(err.Error(), "best epoch") {
		t.Errorf("checkpoint without best weights: %v, want ErrBadCheckpoint", err)
	}
}

// OnEpoch sees the history; ErrStop ends training as a success, another
// error aborts with it.
func TestOnEpochStops(t *testing.T) {
	m := build(t, "linear(2,8) tanh linear(8,4)")
	var seen []int
	hist, err := Fit(m, dots(t, 100, 1), nil, Config{Epochs: 10, Batch: 32, Optimizer: nn.NewAdam(0.01),
		OnEpoch: func(h History) error {
			seen = append(seen, len(h))
			if len(h) == 3 {
				return ErrStop
			}
			return nil
		}})
	if err != nil || len(hist) != 3 || !slices.Equal(seen, []int{1, 2, 3}) {
		t.Errorf("Fit returned %d epochs, %v; OnEpoch saw %v; want 3 epochs, no error", len(hist), err, seen)
	}
	boom := errors.New("boom")
	_, err = Fit(m, dots(t, 100, 1), nil, Config{Epochs: 10, Batch: 32, Optimizer: nn.NewAdam(0.01),
		OnEpoch: func(h History) error { return boom }})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "epoch 1") {
		t.Errorf("error %v, want boom at epoch 1", err)
	}
}

// Transform chooses the target: asked to output 0.25 everywhere whatever
// the input (an MSE target that has nothing to do with the labels), a
// network learns to.
func TestTransformChoosesTheTarget(t *testing.T) {
	m := build(t, "linear(2,8) tanh linear(8,3)")
	b := m.Net.Params()[0].Value.Backend()
	var target *tensor.Tensor
	calls := 0
	d := dots(t, 200, 1)
	_, err := Fit(m, d, nil, Config{Epochs: 40, Batch: 50, Optimizer: nn.NewAdam(0.02), Loss: nn.MSELoss(), MaxLoss: -1,
		Transform: func(x, y *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, error) {
			calls++
			if x.Rows() != y.Len() || x.Cols() != 2 {
				t.Fatalf("Transform got x %v and y %v", x.Shape(), y.Shape())
			}
			if err := tensor.Ensure(&target, b, x.Rows(), 3); err != nil {
				return nil, nil, err
			}
			b.Fill(target.Len(), 0.25, target.Buffer())
			return x, target, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 40*4 {
		t.Errorf("Transform ran %d times, want one a step (160)", calls)
	}
	p, err := Predict(m, d)
	if err != nil {
		t.Fatal(err)
	}
	mse := 0.0
	for _, v := range p.Outputs {
		mse += (float64(v) - 0.25) * (float64(v) - 0.25) / float64(len(p.Outputs))
	}
	if mse > 1e-3 { // 0.13 at the start
		t.Errorf("outputs are %.4f from 0.25 in mean square: the network did not learn Transform's target", mse)
	}
}

// A denoising autoencoder: Transform feeds a noisy copy of the batch and
// asks for the clean one; the network's reconstruction of clean inputs
// beats the noise's own error.
func TestTransformTrainsADenoiser(t *testing.T) {
	d := squares(t, 400)
	m := build(t, "linear(4,3) sigmoid linear(3,4) sigmoid")
	b := m.Net.Params()[0].Value.Backend()
	var noisy *tensor.Tensor
	var step uint64
	_, err := Fit(m, d, nil, Config{Task: Reconstruct, Epochs: 60, Batch: 40, Optimizer: nn.NewAdam(0.03), Seed: 1,
		Transform: func(x, y *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, error) {
			if err := tensor.Ensure(&noisy, b, x.Shape()...); err != nil {
				return nil, nil, err
			}
			step++
			b.Random(backend.Normal, x.Len(), 7, step*uint64(x.Len()+3), 0, 0.2, noisy.Buffer())
			b.Axpy(x.Len(), 1, x.Buffer(), noisy.Buffer())
			return noisy, x, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	bce, err := EvaluateReconstruction(m, d)
	if err != nil {
		t.Fatal(err)
	}
	if bce > 0.35 {
		t.Errorf("denoiser's clean reconstruction BCE %.4f, want < 0.35", bce)
	}
}

// squares is n 2×2 "images" of 0/1 pixels (one of four patterns) with
// classes by pattern.
func squares(t *testing.T, n int) *data.Dataset {
	pats := [][]float32{{1, 0, 0, 1}, {0, 1, 1, 0}, {1, 1, 0, 0}, {0, 0, 1, 1}}
	d := &data.Dataset{Name: "squares", N: n, Features: 4, ClassNames: []string{"a", "b", "c", "d"}}
	for i := range n {
		d.X = append(d.X, pats[i%4]...)
		d.Y = append(d.Y, float32(i%4))
	}
	return d
}

// rateLog is an optimizer that records the rate of every step and, when
// norms is set, the global norm of the gradients it was given.
type rateLog struct {
	nn.Optimizer
	rates, norms []float64
	wantNorms    bool
}

func (r *rateLog) Step(params []nn.Param) error {
	r.rates = append(r.rates, r.LearningRate())
	if r.wantNorms {
		s := 0.0
		for _, p := range params {
			g, err := p.Grad.Data()
			if err != nil {
				return err
			}
			for _, v := range g {
				s += float64(v) * float64(v)
			}
		}
		r.norms = append(r.norms, math.Sqrt(s))
	}
	return r.Optimizer.Step(params)
}

// Fit sets base·factor before every step (warm-up is per step, cosine per
// epoch here), records each epoch's first rate and restores the base rate.
func TestScheduleRatesPerStep(t *testing.T) {
	m := build(t, "linear(2,8) tanh linear(8,4)")
	opt := &rateLog{Optimizer: nn.NewSGD(0.5)}
	sched := nn.Warmup{Steps: 6, Then: nn.Cosine{Epochs: 3, MinFactor: 0.1}}
	hist, err := Fit(m, dots(t, 100, 1), nil, Config{Epochs: 3, Batch: 25, Optimizer: opt, Schedule: sched}) // 4 steps an epoch
	if err != nil {
		t.Fatal(err)
	}
	if len(opt.rates) != 12 {
		t.Fatalf("%d steps, want 12", len(opt.rates))
	}
	for i, got := range opt.rates {
		e := i / 4
		cos := 0.1 + 0.9*(1+math.Cos(math.Pi*float64(e)/3))/2
		want := 0.5 * math.Min(1, float64(i+1)/6) * cos
		if math.Abs(got-want) > 1e-15 {
			t.Errorf("step %d: rate %v, want %v", i, got, want)
		}
		if i%4 == 0 && hist[e].LR != got {
			t.Errorf("epoch %d records rate %v, its first step had %v", e+1, hist[e].LR, got)
		}
	}
	if opt.LearningRate() != 0.5 {
		t.Errorf("after Fit the rate is %v, want the base 0.5 back", opt.LearningRate())
	}
}

// With ClipNorm the optimizer never sees gradients longer than it (a
// large rate on unscaled inputs makes them long), and without it, it does.
func TestClipNormBoundsTheGradients(t *testing.T) {
	d := dots(t, 200, 1)
	for i := range d.X {
		d.X[i] *= 30
	}
	for _, clip := range []float64{0, 0.5} {
		opt := &rateLog{Optimizer: nn.NewSGD(0.01), wantNorms: true}
		if _, err := Fit(build(t, "linear(2,8) tanh linear(8,4)"), d, nil, Config{Epochs: 2, Batch: 20, Optimizer: opt, ClipNorm: clip, MaxLoss: -1}); err != nil {
			t.Fatal(err)
		}
		top := slices.Max(opt.norms)
		if clip > 0 && top > clip*(1+1e-5) {
			t.Errorf("clipped at %v, the optimizer saw a gradient norm of %v", clip, top)
		}
		if clip == 0 && top <= 0.5 {
			t.Errorf("unclipped, the largest gradient norm is %v: the test shows nothing", top)
		}
	}
	if _, err := Fit(build(t, "linear(2,4)"), d, nil, Config{Epochs: 1, Batch: 20, Optimizer: nn.NewSGD(0.1), ClipNorm: -1}); err == nil {
		t.Error("a negative ClipNorm was accepted")
	}
}

// Predict's outputs are the network's, read back; Probabilities is their
// softmax (float64 reference) and Classes their argmax; PredictRows of one
// sample gives that sample's row.
func TestPredictMatchesForwardAndSoftmax(t *testing.T) {
	m := build(t, "linear(2,5) tanh linear(5,3)")
	d := dots(t, 1033, 4) // more than one batch of 1000
	p, err := Predict(m, d)
	if err != nil {
		t.Fatal(err)
	}
	if p.N != d.N || p.Width() != 3 || !slices.Equal(p.Shape, tensor.Shape{3}) {
		t.Fatalf("predictions of %d samples, width %d, shape %v", p.N, p.Width(), p.Shape)
	}
	x, _ := tensor.FromSlice(m.Net.Params()[0].Value.Backend(), d.X, d.N, 2)
	out, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := out.Data()
	if !slices.Equal(p.Outputs, want) {
		t.Fatal("Predict's outputs differ from Forward's")
	}
	probs, classes := p.Probabilities(), p.Classes()
	for i := range p.N {
		row := want[3*i : 3*i+3]
		sum, arg := 0.0, 0
		for j, v := range row {
			sum += math.Exp(float64(v))
			if v > row[arg] {
				arg = j
			}
		}
		for j, v := range row {
			if ref := math.Exp(float64(v)) / sum; math.Abs(float64(probs[3*i+j])-ref) > 1e-6 {
				t.Fatalf("sample %d class %d: probability %v, want %v", i, j, probs[3*i+j], ref)
			}
		}
		if classes[i] != arg {
			t.Fatalf("sample %d: class %d, want %d", i, classes[i], arg)
		}
	}
	one, err := PredictRows(m, d.Row(7), 2)
	if err != nil {
		t.Fatal(err)
	}
	if one.N != 1 || !slices.Equal(one.Row(0), p.Row(7)) {
		t.Errorf("one sample: %v, want %v", one.Outputs, p.Row(7))
	}
	if _, err := PredictRows(m, d.X[:5], 2); err == nil || !strings.Contains(err.Error(), "5 values") {
		t.Errorf("5 values of 2-value samples: %v", err)
	}
	if _, err := Predict(nn.NewSequential(nn.Tanh()), d); !errors.Is(err, ErrNoParams) {
		t.Errorf("a module without parameters: %v, want ErrNoParams", err)
	}
}

// modeProbe is a user's layer that records, at each Forward, whether it
// was in training mode and the seed it was last given.
type modeProbe struct {
	*nn.Linear
	training bool
	seed     uint64
	log      []bool
	seeds    []uint64
}

func (p *modeProbe) SetTraining(training bool) { p.training = training }
func (p *modeProbe) Reseed(seed uint64)        { p.seed = seed }
func (p *modeProbe) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	p.log = append(p.log, p.training)
	if p.training {
		p.seeds = append(p.seeds, p.seed)
	}
	return p.Linear.Forward(x)
}

// Fit trains in training mode and evaluates in evaluation mode, reseeding
// before every step from (seed, epoch, step); Predict is in evaluation mode.
func TestFitSetsModesAndSeeds(t *testing.T) {
	l, err := nn.NewLinear(cpu.New(), 2, 4, nn.InitDefault, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	p := &modeProbe{Linear: l}
	// 100 samples in 4 steps, eval of 30 in 1 batch, train metrics: 1 more.
	if _, err := Fit(p, dots(t, 100, 1), dots(t, 30, 2), Config{Epochs: 2, Batch: 25, Optimizer: nn.NewSGD(0.1), Seed: 5, TrainMetrics: true}); err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, true, true, false, false, true, true, true, true, false, false}
	if !slices.Equal(p.log, want) {
		t.Errorf("modes at each Forward %v, want %v", p.log, want)
	}
	for i, s := range p.seeds {
		if w := seedFor(5, i/4, i%4); s != w {
			t.Errorf("training Forward %d had seed %#x, want seedFor(5, %d, %d) = %#x", i, s, i/4, i%4, w)
		}
	}
	if p.training {
		t.Error("after Fit the module is left in training mode: a Forward after Fit would not be inference")
	}
	p.log = nil
	if _, err := Predict(p, dots(t, 10, 3)); err != nil || !slices.Equal(p.log, []bool{false}) {
		t.Errorf("Predict: %v, modes %v, want evaluation", err, p.log)
	}
}

// A Dropout network's evaluation is deterministic (Dropout is off), and
// so is its training given the seed: two runs give the same history.
func TestDropoutNetEvaluatesDeterministically(t *testing.T) {
	run := func() (History, *nn.Sequential) {
		rng := rand.New(rand.NewPCG(1, 1))
		b := cpu.New()
		l1, _ := nn.NewLinear(b, 2, 32, nn.InitDefault, rng)
		l2, _ := nn.NewLinear(b, 32, 4, nn.InitDefault, rng)
		drop, err := nn.NewDropout(0.5, 3)
		if err != nil {
			t.Fatal(err)
		}
		net := nn.NewSequential(l1, nn.Tanh(), drop, l2)
		h, err := Fit(net, dots(t, 200, 1), dots(t, 100, 2), Config{Epochs: 3, Batch: 20, Optimizer: nn.NewAdam(0.01), Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		return h, net
	}
	h1, net := run()
	h2, _ := run()
	for i := range h1 {
		if h1[i].TrainLoss != h2[i].TrainLoss || h1[i].EvalLoss != h2[i].EvalLoss {
			t.Errorf("epoch %d: runs differ: %+v, %+v", i+1, h1[i], h2[i])
		}
	}
	d := dots(t, 100, 2)
	a, err := Predict(net, d)
	if err != nil {
		t.Fatal(err)
	}
	l, _, _, err := Evaluate(net, d)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Predict(net, d)
	if !slices.Equal(a.Outputs, b.Outputs) || l != h1[len(h1)-1].EvalLoss {
		t.Errorf("evaluation is not deterministic: loss %v, Fit's last %v", l, h1[len(h1)-1].EvalLoss)
	}
}

// The seed mix is fixed (checkpoints depend on it) and spreads positions.
func TestSeedFor(t *testing.T) {
	if got := seedFor(1, 2, 3); got != seedFor(1, 2, 3) || got == seedFor(1, 3, 2) || got == seedFor(2, 2, 3) {
		t.Errorf("seedFor does not separate positions: %#x", got)
	}
	seen := map[uint64]bool{}
	for e := range 50 {
		for s := range 200 {
			seen[seedFor(9, e, s)] = true
		}
	}
	if len(seen) != 50*200 {
		t.Errorf("%d distinct seeds over 10000 positions", len(seen))
	}
	// Known answer: a checkpoint made today must resume with these masks.
	if got := seedFor(1, 2, 3); got != 0xd0734750fde362b3 { // SplitMix64 (Steele et al.), computed in Python
		t.Errorf("seedFor(1, 2, 3) = %#x: the mix changed, and with it what every checkpoint's Dropout masks are", got)
	}
}

// The evaluation set is named as the caller says: a validation hold-out is
// never called "test".
func TestProgressNamesTheEvaluationSet(t *testing.T) {
	for _, c := range []struct{ name, want string }{{"", "|  eval loss"}, {"validation", "|  validation loss"}, {"test", "|  test loss"}} {
		var out bytes.Buffer
		if _, err := Fit(build(t, "linear(2,4)"), dots(t, 100, 1), dots(t, 50, 2), Config{Epochs: 2, Batch: 50, Optimizer: nn.NewSGD(0.1),
			EvalName: c.name, Progress: &out}); err != nil {
			t.Fatal(err)
		}
		if strings.Count(out.String(), c.want) != 2 || c.name != "test" && strings.Contains(out.String(), "test") {
			t.Errorf("EvalName %q:\n%s", c.name, out.String())
		}
		if !strings.Contains(out.String(), "samples/s") || !strings.Contains(out.String(), "left)") {
			t.Errorf("the first epoch's line has no throughput or time left:\n%s", out.String())
		}
	}
}

// The bar shows the throughput and the time left.
func TestBarShowsRateAndTimeLeft(t *testing.T) {
	var out bytes.Buffer
	bar(&out, stepReport{epoch: 2, epochs: 5, step: 3, steps: 10, loss: 0.5, samplesPerSecond: 12345.4, left: 190e9})
	if got := out.String(); !strings.Contains(got, "epoch 2/5 [=========") || !strings.Contains(got, "12345 samples/s  3m10s left") {
		t.Errorf("bar %q", got)
	}
	for d, want := range map[float64]string{5: "5s", 59.6: "1m00s", 3725: "1h02m"} {
		if got := formatLeft(timeSeconds(d)); got != want {
			t.Errorf("formatLeft(%vs) = %q, want %q", d, got, want)
		}
	}
}

// A training step of Fit's loop, with a per-step schedule, clipping and a
// Dropout network reseeded every step, allocates nothing.
func TestFitStepAllocatesNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	b := cpu.New()
	l1, _ := nn.NewLinear(b, 2, 32, nn.InitDefault, rng)
	l2, _ := nn.NewLinear(b, 32, 4, nn.InitDefault, rng)
	drop, _ := nn.NewDropout(0.3, 1)
	net := nn.NewSequential(l1, nn.ReLU(), drop, l2)
	cfg := Config{Epochs: 2, Batch: 32, Optimizer: nn.NewAdam(0.01), ClipNorm: 1,
		Schedule: nn.Warmup{Steps: 100, Then: nn.Cosine{Epochs: 2, MinFactor: 0.1, PerStep: true}}, CheckEvery: 1, EvalBatch: 1000}
	tr, err := newTrainer(net, dots(t, 320, 1), nil, cfg, 0.01, newReporter(net, "", cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.free()
	stepsAllocateNothing(t, tr, net)
}

// stepsAllocateNothing runs tr's steps of epoch 0 past the first and
// fails if one allocates a device buffer or anything on the Go heap.
func stepsAllocateNothing(t *testing.T, tr *trainer, net nn.Module) {
	tr.shuffle(0)
	nn.SetTraining(net, true)
	i := 0
	step := func() {
		if err := tr.step(0, i%tr.steps); err != nil {
			t.Fatal(err)
		}
		i++
	}
	step()
	before := tr.b.MemStats()
	heap := testing.AllocsPerRun(20, step)
	if after := tr.b.MemStats(); after.Allocs != before.Allocs {
		t.Errorf("%d buffer allocations in steady-state steps, want 0", after.Allocs-before.Allocs)
	}
	if heap != 0 {
		t.Errorf("%.0f heap allocations per step, want 0", heap)
	}
}

// A module of the user's own (not a model.Model) trains; a history with
// the old column names (older checkpoints) still reads.
func TestFitTrainsAnyModule(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	b := cpu.New()
	l1, _ := nn.NewLinear(b, 2, 16, nn.InitDefault, rng)
	l2, _ := nn.NewLinear(b, 16, 4, nn.InitDefault, rng)
	net := nn.NewSequential(l1, nn.Tanh(), l2)
	hist, err := Fit(net, dots(t, 500, 1), dots(t, 200, 2), Config{Epochs: 8, Batch: 32, Optimizer: nn.NewAdam(0.02), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if acc := hist[len(hist)-1].EvalAcc; acc < 0.9 {
		t.Errorf("a Sequential reached accuracy %.3f, want ≥ 0.9", acc)
	}
	if _, err := Fit(net, dots(t, 50, 1), nil, Config{Epochs: 1, Batch: 8, Optimizer: nn.NewSGD(0.1)}); err != nil {
		t.Errorf("a second Fit: %v", err)
	}
	wrong := nn.NewSequential(l1, nn.Tanh())
	if _, err := Fit(wrong, dots(t, 50, 1), nil, Config{Epochs: 1, Batch: 8, Optimizer: nn.NewSGD(0.1)}); err == nil || !strings.Contains(err.Error(), "4 classes") {
		t.Errorf("a net of 16 outputs for 4 classes: %v", err)
	}
	old := "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds\n1,0.1,0.5,,0.6,0.8,1.5\n"
	h, err := ReadCSV(strings.NewReader(old))
	if err != nil || len(h) != 1 || h[0].EvalLoss != 0.6 || h[0].EvalAcc != 0.8 {
		t.Errorf("old header: %+v, %v", h, err)
	}
}

func timeSeconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Image datasets keep their (C×H×W) shape: batches reach the network as
// such, and an autoencoder whose output is flat is scored against its
// input viewed flat.
func TestImagesKeepTheirShape(t *testing.T) {
	d := squares(t, 80)
	d.Shape = []int{1, 2, 2}
	m := build(t, "linear(4,3) sigmoid linear(3,4) sigmoid")
	var seen tensor.Shape
	_, err := Fit(m, d, d, Config{Task: Reconstruct, Epochs: 2, Batch: 16, Optimizer: nn.NewAdam(0.01),
		Transform: func(x, y *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, error) {
			seen = slices.Clone(x.Shape())
			return x, x, nil // the net's output is (16×4), x (16×1×2×2): the loss refuses
		}})
	if err == nil || !slices.Equal(seen, tensor.Shape{16, 1, 2, 2}) {
		t.Errorf("batches of shape %v (want (16×1×2×2)); a target of another shape: %v", seen, err)
	}
	if _, err := Fit(m, d, d, Config{Task: Reconstruct, Epochs: 2, Batch: 16, Optimizer: nn.NewAdam(0.01)}); err != nil {
		t.Fatal(err)
	}
	if _, err := EvaluateReconstruction(m, d); err != nil {
		t.Fatal(err)
	}
}
