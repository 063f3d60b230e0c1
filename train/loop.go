package train

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// The batch loop. It reads no file and prints nothing: what happens goes
// to an observer (the reporter, in report.go), which may refuse an epoch
// (a failed checkpoint) by returning an error.

// observer receives the loop's events.
type observer interface {
	// resumed: the run continues from a checkpoint, at pos.
	resumed(pos position)
	// checked: the running loss was read back mid-epoch.
	checked(p stepReport)
	// epochDone: an epoch's row is in the history; s is the run's state at
	// the end of it (to checkpoint).
	epochDone(e Epoch, p stepReport, s snapshot) error
	// stopping: training ends early, for the reason given.
	stopping(reason string)
	// interrupted: Config.Context stopped the run at s.pos; it returns the
	// error that Fit returns.
	interrupted(s snapshot) error
}

// stepReport is where a run stands, for progress: the epoch and step (from
// 1), the mean training loss of the epoch so far, the training throughput
// and the time left.
type stepReport struct {
	epoch, epochs, step, steps int
	loss                       float64
	samplesPerSecond           float64
	left                       time.Duration
}

// snapshot is what a checkpoint holds beyond the weights and the
// optimizer: the position, the history and the best weights so far.
type snapshot struct {
	pos  position
	hist History
	best *bestWeights // nil without early stopping
}

// position is where a run stands: epochs done, and steps done in the next
// one, with that epoch's running loss sum and seconds so far.
type position struct {
	epoch, step int
	lossSum     float32
	seconds     float64
	elapsed     float64 // the run's wall-clock seconds so far
}

func (p position) String() string {
	if p.step == 0 {
		return fmt.Sprintf("the end of epoch %d", p.epoch)
	}
	return fmt.Sprintf("epoch %d, step %d", p.epoch+1, p.step)
}

// bestWeights are the parameters of the best epoch so far, on the host.
type bestWeights struct {
	epoch  int // from 1; 0 before any
	values [][]float32
}

// resumePoint is what a checkpoint gives back to the loop.
type resumePoint struct {
	pos  position
	hist History
	best [][]float32 // the best epoch's weights, when early stopping
}

// onDevice is a dataset uploaded to a backend.
type onDevice struct {
	x, y  *tensor.Tensor
	n     int
	shape tensor.Shape // per sample
	host  *data.Dataset
}

func upload(b backend.Backend, d *data.Dataset) (*onDevice, error) {
	shape := sampleShape(d)
	// Wrap: on the cpu backend the dataset is used in place, not copied.
	x, err := tensor.Wrap(b, d.X, d.N, volume(shape))
	if err != nil {
		return nil, fmt.Errorf("uploading %s: %w", d.Name, err)
	}
	y, err := tensor.Wrap(b, d.Y, d.N, 1)
	if err != nil {
		x.Free()
		return nil, fmt.Errorf("uploading %s labels: %w", d.Name, err)
	}
	return &onDevice{x: x, y: y, n: d.N, shape: shape, host: d}, nil
}

func (d *onDevice) free() { d.x.Free(); d.y.Free() }

// seedFor is the seed of the random modules at step step of epoch epoch:
// SplitMix64's finaliser over the three, so that neighbouring positions
// get unrelated streams. It is part of what a checkpoint means: changing
// it changes the masks a resumed run draws.
func seedFor(seed uint64, epoch, step int) uint64 {
	return mix64(mix64(mix64(seed)^uint64(epoch)) ^ uint64(step))
}

func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// trainer runs the epochs: everything a step needs is allocated once, in
// newTrainer, so a step allocates nothing.
type trainer struct {
	cfg    Config
	net    nn.Module
	params []nn.Param
	kept   []nn.Param // what early stopping keeps of the best epoch: bestTensors
	b      backend.Backend
	obs    observer
	baseLR float64

	tr, ev       *onDevice
	x, y         *tensor.Tensor
	dims         []int          // (batch, sample shape…), for resizing x
	xt           *tensor.Tensor // Reconstruct: x viewed in the output's shape, the target
	tdims        []int
	jt           *tensor.Tensor // Joint: the target, x's values and the label side by side
	order, sum   *tensor.Tensor
	loss         nn.Loss
	freeLoss     func()
	clip         *nn.GradClipper
	perm, one    []float32
	batch, steps int
	best         *bestWeights
	done         <-chan struct{}
	graph        *StepGraph // captured full-batch steps (capture.go); nil: eager
}

func newTrainer(net nn.Module, train, eval *data.Dataset, cfg Config, baseLR float64, obs observer) (t *trainer, err error) {
	b, params, err := backendOf(net)
	if err != nil {
		return nil, err
	}
	t = &trainer{cfg: cfg, net: net, params: params, b: b, obs: obs, baseLR: baseLR, loss: cfg.Loss}
	defer func() {
		if err != nil {
			t.free()
		}
	}()
	if t.tr, err = upload(b, train); err != nil {
		return nil, err
	}
	if eval != nil {
		if t.ev, err = upload(b, eval); err != nil {
			return nil, err
		}
	}
	t.batch = min(cfg.Batch, train.N)
	t.steps = (train.N + t.batch - 1) / t.batch
	t.dims = append([]int{t.batch}, t.tr.shape...)
	var err1, err2, err3, err4 error
	t.x, err1 = tensor.New(b, t.dims...)
	t.y, err2 = tensor.New(b, t.batch)
	t.order, err3 = tensor.New(b, train.N)
	t.sum, err4 = tensor.New(b, 1)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	if cfg.Task == Reconstruct {
		t.tdims = append([]int{t.batch}, reconShape(net, t.tr.shape)...)
		if t.xt, err = t.x.View(t.tdims...); err != nil {
			return nil, err
		}
	}
	if cfg.Task == Joint {
		if t.jt, err = tensor.New(b, t.batch, train.Features+1); err != nil {
			return nil, err
		}
	}
	switch {
	case t.loss != nil:
	case cfg.Task == Joint:
		l := jointLoss(train.Features, train.Classes(), cfg.ClassWeight)
		t.loss, t.freeLoss = l, l.Free
	default:
		l := defaultLoss(cfg.Task)
		t.loss, t.freeLoss = l, l.Free
	}
	if cfg.ClipNorm > 0 {
		t.clip = &nn.GradClipper{MaxNorm: float32(cfg.ClipNorm)}
	}
	if cfg.EarlyStopping != nil {
		t.kept = bestTensors(net)
		t.best = &bestWeights{values: make([][]float32, len(t.kept))}
		for i, p := range t.kept {
			t.best.values[i] = make([]float32, p.Value.Len())
		}
	}
	t.perm = make([]float32, train.N)
	t.one = make([]float32, 1)
	if cfg.Context != nil {
		t.done = cfg.Context.Done()
	}
	t.graph = NewStepGraph(b)
	return t, nil
}

func (t *trainer) free() {
	for _, d := range []*onDevice{t.tr, t.ev} {
		if d != nil {
			d.free()
		}
	}
	t.x.Free()
	t.y.Free()
	t.order.Free()
	t.sum.Free()
	if t.jt != nil {
		t.jt.Free()
	}
	if t.freeLoss != nil {
		t.freeLoss()
	}
	if t.clip != nil {
		t.clip.Free()
	}
	t.graph.close()
}

// at is the schedule's view of a step.
func (t *trainer) at(epoch, step int) nn.At {
	return nn.At{Epoch: epoch, Step: epoch*t.steps + step, StepsPerEpoch: t.steps}
}

// rate is the learning rate of a step.
func (t *trainer) rate(epoch, step int) float64 {
	if t.cfg.Schedule == nil {
		return t.baseLR
	}
	return t.baseLR * t.cfg.Schedule.Factor(t.at(epoch, step))
}

// shuffle uploads epoch's order of the training samples.
func (t *trainer) shuffle(epoch int) {
	rng := rand.New(rand.NewPCG(t.cfg.Seed, uint64(epoch)))
	for i, p := range rng.Perm(t.tr.n) {
		t.perm[i] = float32(p)
	}
	t.b.Upload(t.order.Buffer(), t.perm)
}

// step runs training step step of epoch epoch (the epoch's order uploaded)
// and adds its share of the epoch's mean loss to t.sum, on the device. It
// allocates nothing. Full batches run as a captured graph where the
// backend can (capture.go).
func (t *trainer) step(epoch, step int) error {
	if t.graph != nil && (step+1)*t.batch <= t.tr.n {
		return t.graph.Run(func() error { return t.calls(epoch, step) })
	}
	return t.calls(epoch, step)
}

// calls issues the backend calls of a step, eagerly or for a capture.
func (t *trainer) calls(epoch, step int) error {
	b, features := t.b, t.tr.x.Cols()
	off := step * t.batch
	n := min(t.batch, t.tr.n-off)
	t.dims[0] = n
	if err := errors.Join(t.x.Resize(t.dims...), t.y.Resize(n)); err != nil {
		return err
	}
	b.GatherRows(n, features, t.tr.x.Buffer(), t.order.Buffer(), off, t.x.Buffer())
	b.GatherRows(n, 1, t.tr.y.Buffer(), t.order.Buffer(), off, t.y.Buffer())
	if t.cfg.Schedule != nil {
		lr := t.rate(epoch, step)
		if !(lr >= 0) || math.IsInf(lr, 0) {
			return fmt.Errorf("the schedule %T gives learning rate %v (base %v): want a finite rate ≥ 0", t.cfg.Schedule, lr, t.baseLR)
		}
		t.cfg.Optimizer.SetLR(lr)
	}
	nn.Reseed(t.net, seedFor(t.cfg.Seed, epoch, step))
	input, target := t.x, t.y
	if t.xt != nil {
		t.tdims[0] = n
		if err := t.xt.Resize(t.tdims...); err != nil {
			return err
		}
		target = t.xt
	}
	if t.jt != nil {
		if err := t.jt.Resize(n, features+1); err != nil {
			return err
		}
		jointTarget(b, n, features, t.x, t.y, t.jt)
		target = t.jt
	}
	if t.cfg.Transform != nil {
		var err error
		if input, target, err = t.cfg.Transform(t.x, t.y); err != nil {
			return fmt.Errorf("Transform: %w", err)
		}
		if err := checkTransformed(input, target); err != nil {
			return fmt.Errorf("Transform: %w", err)
		}
	}
	l, err := nn.Gradients(t.net, t.loss, input, target)
	if err != nil {
		return err
	}
	if t.clip != nil {
		if err := t.clip.Clip(t.params); err != nil {
			return err
		}
	}
	if err := t.cfg.Optimizer.Step(t.params); err != nil {
		return err
	}
	// The epoch's mean loss accumulates on the device: each batch's mean,
	// weighted by its share of the samples.
	b.Axpy(1, float32(n)/float32(t.tr.n), l.Buffer(), t.sum.Buffer())
	return b.Err()
}

// evaluate runs an evaluation pass in evaluation mode, then returns the
// network to training mode.
func (t *trainer) evaluate(d *onDevice, transform func(x, y *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, error)) (loss, acc float64, err error) {
	nn.SetTraining(t.net, false)
	defer nn.SetTraining(t.net, true)
	res, err := evaluate(t.net, d, t.cfg.EvalBatch, t.cfg.Task, t.loss, transform)
	return res.loss, res.acc, err
}

// run trains from start to the end of the run, an early stop, or an
// interruption.
func (t *trainer) run(start resumePoint) (History, error) {
	cfg := t.cfg
	pos, hist := start.pos, start.hist
	if t.best != nil {
		if t.best.epoch = hist.Best(cfg.EarlyStopping.MinDelta); t.best.epoch > 0 {
			for i := range t.best.values {
				copy(t.best.values[i], start.best[i])
			}
		}
	}
	if pos.epoch > 0 || pos.step > 0 {
		t.obs.resumed(pos)
	}
	if t.best != nil && pos.step == 0 && t.stale(len(hist)) {
		return hist, t.stop(hist) // the checkpoint is of a run that had stopped early
	}
	nn.SetTraining(t.net, true)
	fitStart := time.Now()
	elapsed := func() float64 { return pos.elapsed + time.Since(fitStart).Seconds() }
	stepsRun := 0 // in this call, for the time left
	totalSteps := cfg.Epochs * t.steps
	report := func(epoch, step int, mean float64, epochStart time.Time, firstStep int) stepReport {
		r := stepReport{epoch: epoch + 1, epochs: cfg.Epochs, step: step + 1, steps: t.steps, loss: mean}
		if d := time.Since(epochStart).Seconds(); d > 0 {
			done := min(t.tr.n, (step+1)*t.batch) - firstStep*t.batch
			r.samplesPerSecond = float64(done) / d
		}
		if stepsRun > 0 {
			perStep := time.Since(fitStart).Seconds() / float64(stepsRun)
			r.left = time.Duration(perStep * float64(totalSteps-(epoch*t.steps+step+1)) * float64(time.Second))
		}
		return r
	}

	for epoch := pos.epoch; epoch < cfg.Epochs; epoch++ {
		t0 := time.Now()
		lr := math.NaN()
		if cfg.Schedule != nil {
			lr = t.rate(epoch, 0)
		}
		t.shuffle(epoch)
		first, earlier := 0, 0.0 // a run resumed mid-epoch starts at its step
		if epoch == pos.epoch {
			first, earlier = pos.step, pos.seconds
		}
		t.one[0] = 0
		if first > 0 {
			t.one[0] = pos.lossSum
		}
		t.b.Upload(t.sum.Buffer(), t.one)
		lastFinite := first
		var last stepReport
		for step := first; step < t.steps; step++ {
			if err := t.step(epoch, step); err != nil {
				return hist, fmt.Errorf("epoch %d, step %d: %w", epoch+1, step+1, err)
			}
			stepsRun++
			if (step+1)%cfg.CheckEvery == 0 || step == t.steps-1 {
				if err := t.b.Download(t.one, t.sum.Buffer()); err != nil {
					return hist, fmt.Errorf("epoch %d, step %d: %w", epoch+1, step+1, err)
				}
				v := float64(t.one[0])
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return hist, fmt.Errorf("epoch %d, step %d of %d: %w (%v; it was finite at step %d): lower the learning rate",
						epoch+1, step+1, t.steps, ErrNotFinite, v, lastFinite)
				}
				// sum holds the running mean's share so far; scale it to the
				// mean over the samples seen this epoch.
				mean := v * float64(t.tr.n) / float64(min(t.tr.n, (step+1)*t.batch))
				if cfg.MaxLoss > 0 && mean > cfg.MaxLoss {
					return hist, fmt.Errorf("epoch %d, step %d of %d: %w: mean loss %.4g is past %.4g: lower the learning rate",
						epoch+1, step+1, t.steps, ErrDiverged, mean, cfg.MaxLoss)
				}
				lastFinite = step + 1
				last = report(epoch, step, mean, t0, first)
				t.obs.checked(last)
			}
			select {
			case <-t.done:
				if step == t.steps-1 {
					break // the epoch is complete: finish it, then stop below
				}
				if err := t.b.Download(t.one, t.sum.Buffer()); err != nil {
					return hist, err
				}
				at := position{epoch: epoch, step: step + 1, lossSum: t.one[0], seconds: earlier + time.Since(t0).Seconds(), elapsed: elapsed()}
				return hist, t.obs.interrupted(snapshot{pos: at, hist: hist, best: t.best})
			default:
			}
		}
		if err := checkFinite(t.net); err != nil {
			return hist, fmt.Errorf("epoch %d: %w: %w: lower the learning rate", epoch+1, ErrDiverged, err)
		}
		e := Epoch{Epoch: epoch + 1, LR: lr, TrainLoss: float64(t.one[0]), TrainAcc: math.NaN(), EvalLoss: math.NaN(), EvalAcc: math.NaN()}
		if cfg.TrainMetrics && cfg.Task == Classify {
			_, acc, err := t.evaluate(t.tr, nil)
			if err != nil {
				return hist, fmt.Errorf("epoch %d: evaluating on the training set: %w", epoch+1, err)
			}
			e.TrainAcc = acc
		}
		if t.ev != nil {
			var err error
			if e.EvalLoss, e.EvalAcc, err = t.evaluate(t.ev, cfg.EvalTransform); err != nil {
				return hist, fmt.Errorf("epoch %d: evaluating on the %s set: %w", epoch+1, cfg.EvalName, err)
			}
		}
		e.Seconds = earlier + time.Since(t0).Seconds()
		e.Elapsed = elapsed()
		hist = append(hist, e)
		if t.best != nil && hist.Best(cfg.EarlyStopping.MinDelta) == e.Epoch {
			if err := t.keepBest(e.Epoch); err != nil {
				return hist, err
			}
		}
		if err := t.obs.epochDone(e, last, snapshot{pos: position{epoch: epoch + 1, elapsed: elapsed()}, hist: hist, best: t.best}); err != nil {
			return hist, err
		}
		if cfg.OnEpoch != nil {
			if err := cfg.OnEpoch(hist); errors.Is(err, ErrStop) {
				if epoch+1 < cfg.Epochs {
					t.obs.stopping(fmt.Sprintf("stopped by OnEpoch after epoch %d: %v", epoch+1, err))
				}
				return hist, t.restoreBest()
			} else if err != nil {
				return hist, fmt.Errorf("epoch %d: OnEpoch: %w", epoch+1, err)
			}
		}
		if t.best != nil && epoch+1 < cfg.Epochs && t.stale(e.Epoch) {
			return hist, t.stop(hist)
		}
		select {
		case <-t.done:
			if epoch+1 < cfg.Epochs {
				return hist, t.obs.interrupted(snapshot{pos: position{epoch: epoch + 1, elapsed: elapsed()}, hist: hist, best: t.best})
			}
		default:
		}
	}
	return hist, t.restoreBest()
}

// stale reports whether early stopping's patience has run out after
// epochs epochs.
func (t *trainer) stale(epochs int) bool {
	return t.best.epoch > 0 && epochs-t.best.epoch >= t.cfg.EarlyStopping.Patience
}

// stop ends a run by early stopping: it says so and restores the best
// weights.
func (t *trainer) stop(hist History) error {
	n := len(hist)
	t.obs.stopping(fmt.Sprintf("early stopping: the %s loss has not improved for %d epochs; keeping the weights of epoch %d (%s loss %.4f)",
		t.cfg.EvalName, n-t.best.epoch, t.best.epoch, t.cfg.EvalName, hist[t.best.epoch-1].EvalLoss))
	return t.restoreBest()
}

// bestTensors lists what the best epoch is made of: the parameters and the
// buffers (batch norm's running statistics belong to the weights they were
// measured with).
func bestTensors(net nn.Module) []nn.Param {
	return append(slices.Clone(net.Params()), nn.Buffers(net)...)
}

// keepBest copies the weights of epoch, the best so far, to the host.
func (t *trainer) keepBest(epoch int) error {
	for i, p := range t.kept {
		if err := t.b.Download(t.best.values[i], p.Value.Buffer()); err != nil {
			return fmt.Errorf("keeping the weights of epoch %d: %w", epoch, err)
		}
	}
	t.best.epoch = epoch
	return nil
}

// restoreBest gives the network the best epoch's weights, when early
// stopping kept them.
func (t *trainer) restoreBest() error {
	if t.best == nil || t.best.epoch == 0 {
		return nil
	}
	for i, p := range t.kept {
		if err := p.Value.Set(t.best.values[i]); err != nil {
			return fmt.Errorf("restoring the weights of epoch %d: %w", t.best.epoch, err)
		}
	}
	return nil
}
