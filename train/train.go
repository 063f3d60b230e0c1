// Package train fits classifiers: a plain loop over epochs and mini-batches
// with what people expect around it — the dataset uploaded to the device
// once and batches gathered there, a learning-rate schedule, evaluation each
// epoch, a history (also as CSV), a progress bar on a terminal, divergence
// detection (a NaN, infinite or absurdly large loss, or weights that are no
// longer finite) that names the epoch and step, checkpoints to resume from
// exactly, even from the middle of an epoch, and a clean stop on request
// (Config.Context, e.g. Ctrl-C).
package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/metrics"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
)

// Task is what a model learns.
type Task int

const (
	// Classify: logits against class labels, cross-entropy.
	Classify Task = iota
	// Reconstruct: an autoencoder's sigmoid outputs against its own input,
	// binary cross-entropy; accuracies are not measured.
	Reconstruct
)

// Config controls Fit.
type Config struct {
	Task          Task
	Epochs, Batch int
	Optimizer     nn.Optimizer
	Schedule      nn.Schedule // nil keeps the optimizer's rate
	Seed          uint64      // drives the shuffles: epoch e uses PCG(Seed, e)
	// Progress receives one line per epoch, and a live bar when Bar is set
	// (use it only on a terminal). Nil is silent.
	Progress io.Writer
	Bar      bool
	// CheckEvery is how often, in steps, the running loss is read back to
	// check for NaN/Inf and divergence and to update the bar. Each read
	// synchronises with the device. 0 means 1 on backends whose buffers are
	// host memory (backend.HostWrapper, as cpu) and 25 on others.
	CheckEvery int
	// TrainMetrics also evaluates the training set after each epoch, for
	// its accuracy (an extra forward pass over it).
	TrainMetrics bool
	// HistoryCSV, if set, is rewritten (atomically) after every epoch.
	HistoryCSV string
	// Checkpoint, if set, is saved after every epoch and when the run is
	// stopped; Resume continues from it when it exists.
	Checkpoint string
	Resume     bool
	// Settings describe the run (dataset, seed, optimizer, …) in the
	// caller's words. They are recorded in every checkpoint, and Resume
	// refuses a checkpoint whose settings differ (ErrCheckpointMismatch),
	// naming each difference: a resumed run must be the same run.
	Settings map[string]string
	// Context stops the run when done: Fit finishes the current step,
	// writes the checkpoint (mid-epoch; resuming continues from that step)
	// and returns an error wrapping ErrInterrupted. Nil never stops.
	Context context.Context
	// MaxLoss is the training loss that counts as divergence (ErrDiverged)
	// even while finite. 0 means 100 times the loss of a uniform guess for
	// Classify (100·ln classes) and 20 for Reconstruct (per-pixel binary
	// cross-entropy, which saturates at 100); negative disables the check.
	MaxLoss float64
	// EvalBatch is the batch size of evaluation passes (default 1000).
	EvalBatch int
}

// Epoch is one row of the history. Accuracies are NaN when not measured.
type Epoch struct {
	Epoch               int // from 1
	LR                  float64
	TrainLoss, TrainAcc float64
	TestLoss, TestAcc   float64
	Seconds             float64
	// Elapsed is the run's wall-clock time at the end of the epoch, from
	// its start and across resumes (checkpoints carry it); 0 for rows read
	// back from a CSV.
	Elapsed float64
}

// History is the per-epoch record of a run.
type History []Epoch

// onDevice is a dataset uploaded to a backend.
type onDevice struct {
	x, y *tensor.Tensor
	n    int
	host *data.Dataset
}

func upload(b backend.Backend, d *data.Dataset) (*onDevice, error) {
	// Wrap: on the cpu backend the dataset is used in place, not copied.
	x, err := tensor.Wrap(b, d.X, d.N, d.Features)
	if err != nil {
		return nil, fmt.Errorf("uploading %s: %w", d.Name, err)
	}
	y, err := tensor.Wrap(b, d.Y, d.N, 1)
	if err != nil {
		return nil, fmt.Errorf("uploading %s labels: %w", d.Name, err)
	}
	return &onDevice{x: x, y: y, n: d.N, host: d}, nil
}

func (d *onDevice) free() { d.x.Free(); d.y.Free() }

// Errors that Fit's errors wrap.
var (
	// ErrNotFinite: the training loss became NaN or infinite.
	ErrNotFinite = errors.New("training loss is not finite")
	// ErrDiverged: the loss passed Config.MaxLoss, or a weight stopped
	// being finite while the loss still was.
	ErrDiverged = errors.New("training diverged")
	// ErrInterrupted: Config.Context was done; the checkpoint, if any,
	// holds the run up to the last step.
	ErrInterrupted = errors.New("training interrupted")
	// ErrCheckpointMismatch: Resume found a checkpoint of another run
	// (other settings or spec), or one already past Config.Epochs.
	ErrCheckpointMismatch = errors.New("checkpoint does not match this run")
	// ErrBadCheckpoint: Resume found a checkpoint it cannot use: malformed
	// metadata, a position outside the run, values that are not finite.
	ErrBadCheckpoint = errors.New("unusable checkpoint")
)

// Fit trains m on train, evaluating on test (which may be nil) after each
// epoch, and returns the history.
func Fit(m *model.Model, train, test *data.Dataset, cfg Config) (History, error) {
	if cfg.Epochs <= 0 || cfg.Batch <= 0 {
		return nil, fmt.Errorf("train: epochs (%d) and batch size (%d) must be positive", cfg.Epochs, cfg.Batch)
	}
	if cfg.Optimizer == nil {
		return nil, errors.New("train: no optimizer")
	}
	if train.Features != m.Inputs {
		return nil, fmt.Errorf("train: %s has %d features but the model %q takes %d", train.Name, train.Features, m.Spec, m.Inputs)
	}
	if cfg.Task == Classify && m.Outputs != train.Classes() {
		return nil, fmt.Errorf("train: %s has %d classes but the model %q has %d outputs", train.Name, train.Classes(), m.Spec, m.Outputs)
	}
	if cfg.Task == Reconstruct && m.Outputs != train.Features {
		return nil, fmt.Errorf("train: an autoencoder for %s must output its %d features, but %q gives %d", train.Name, train.Features, m.Spec, m.Outputs)
	}
	params := m.Net.Params()
	b := params[0].Value.Backend()
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = 25
		if _, host := b.(backend.HostWrapper); host { // host memory: reading the loss costs no transfer
			cfg.CheckEvery = 1
		}
	}
	if cfg.EvalBatch <= 0 {
		cfg.EvalBatch = 1000
	}
	if cfg.MaxLoss == 0 {
		cfg.MaxLoss = 20
		if cfg.Task == Classify {
			cfg.MaxLoss = 100 * math.Log(float64(max(train.Classes(), 2)))
		}
	}
	done := (<-chan struct{})(nil)
	if cfg.Context != nil {
		done = cfg.Context.Done()
	}

	var hist History
	var pos position
	if cfg.Resume && cfg.Checkpoint != "" {
		var err error
		if pos, hist, err = resume(m, train, cfg); err != nil {
			return nil, err
		}
		if (pos.epoch > 0 || pos.step > 0) && cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "resuming from %s at %s\n", cfg.Checkpoint, pos)
		}
	}

	fitStart := time.Now()
	elapsed := func() float64 { return pos.elapsed + time.Since(fitStart).Seconds() }
	tr, err := upload(b, train)
	if err != nil {
		return nil, err
	}
	defer tr.free()
	var te *onDevice
	if test != nil {
		if te, err = upload(b, test); err != nil {
			return nil, err
		}
		defer te.free()
	}
	batch := min(cfg.Batch, train.N)
	x, err1 := tensor.New(b, batch, train.Features)
	y, err2 := tensor.New(b, batch)
	order, err3 := tensor.New(b, train.N)
	sum, err4 := tensor.New(b, 1)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	defer func() { x.Free(); y.Free(); order.Free(); sum.Free() }()
	var loss nn.Loss = nn.NewCrossEntropyLoss()
	target := y
	if cfg.Task == Reconstruct {
		loss, target = nn.BCELoss(), x
	}
	perm := make([]float32, train.N)
	steps := (train.N + batch - 1) / batch
	one := make([]float32, 1)

	for epoch := pos.epoch; epoch < cfg.Epochs; epoch++ {
		t0 := time.Now()
		lr := math.NaN()
		if cfg.Schedule != nil {
			lr = cfg.Schedule.LR(epoch)
			cfg.Optimizer.SetLR(lr)
		}
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(epoch)))
		for i, p := range rng.Perm(train.N) {
			perm[i] = float32(p)
		}
		b.Upload(order.Buffer(), perm)
		first, earlier := 0, 0.0 // a run resumed mid-epoch starts at its step
		if epoch == pos.epoch {
			first, earlier = pos.step, pos.seconds
		}
		one[0] = 0
		if first > 0 {
			one[0] = pos.lossSum
		}
		b.Upload(sum.Buffer(), one)
		lastFinite := first
		for step := first; step < steps; step++ {
			off := step * batch
			n := min(batch, train.N-off)
			if err := errors.Join(x.Resize(n, train.Features), y.Resize(n)); err != nil {
				return hist, err
			}
			b.GatherRows(n, train.Features, tr.x.Buffer(), order.Buffer(), off, x.Buffer())
			b.GatherRows(n, 1, tr.y.Buffer(), order.Buffer(), off, y.Buffer())
			l, err := nn.TrainStep(m.Net, loss, cfg.Optimizer, x, target)
			if err != nil {
				return hist, fmt.Errorf("epoch %d, step %d: %w", epoch+1, step+1, err)
			}
			// The epoch's mean loss accumulates on the device: each batch's
			// mean, weighted by its share of the samples.
			b.Axpy(1, float32(n)/float32(train.N), l.Buffer(), sum.Buffer())
			if (step+1)%cfg.CheckEvery == 0 || step == steps-1 {
				if err := b.Download(one, sum.Buffer()); err != nil {
					return hist, fmt.Errorf("epoch %d, step %d: %w", epoch+1, step+1, err)
				}
				v := float64(one[0])
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return hist, fmt.Errorf("epoch %d, step %d of %d: %w (%v; it was finite at step %d): lower the learning rate",
						epoch+1, step+1, steps, ErrNotFinite, v, lastFinite)
				}
				// sum holds the running mean's share so far; scale it to the
				// mean over the samples seen this epoch.
				mean := v * float64(train.N) / float64(min(train.N, (step+1)*batch))
				if cfg.MaxLoss > 0 && mean > cfg.MaxLoss {
					return hist, fmt.Errorf("epoch %d, step %d of %d: %w: mean loss %.4g is past %.4g: lower the learning rate",
						epoch+1, step+1, steps, ErrDiverged, mean, cfg.MaxLoss)
				}
				lastFinite = step + 1
				if cfg.Bar && cfg.Progress != nil {
					bar(cfg.Progress, epoch+1, cfg.Epochs, step+1, steps, mean)
				}
			}
			select {
			case <-done:
				if step == steps-1 {
					break // the epoch is complete: finish it, then stop below
				}
				if err := b.Download(one, sum.Buffer()); err != nil {
					return hist, err
				}
				at := position{epoch: epoch, step: step + 1, lossSum: one[0], seconds: earlier + time.Since(t0).Seconds(), elapsed: elapsed()}
				return hist, interrupted(m, cfg, at, hist)
			default:
			}
		}
		if err := checkFinite(m); err != nil {
			return hist, fmt.Errorf("epoch %d: %w: %w: lower the learning rate", epoch+1, ErrDiverged, err)
		}
		e := Epoch{Epoch: epoch + 1, LR: lr, TrainLoss: float64(one[0]), TrainAcc: math.NaN(), TestLoss: math.NaN(), TestAcc: math.NaN()}
		if cfg.TrainMetrics && cfg.Task == Classify {
			if _, acc, _, err := evaluate(m, tr, cfg.EvalBatch, cfg.Task); err != nil {
				return hist, err
			} else {
				e.TrainAcc = acc
			}
		}
		if te != nil {
			if e.TestLoss, e.TestAcc, _, err = evaluate(m, te, cfg.EvalBatch, cfg.Task); err != nil {
				return hist, err
			}
		}
		e.Seconds = earlier + time.Since(t0).Seconds()
		e.Elapsed = elapsed()
		hist = append(hist, e)
		if cfg.Progress != nil {
			if cfg.Bar {
				fmt.Fprint(cfg.Progress, "\r\033[K")
			}
			fmt.Fprintln(cfg.Progress, e.String())
		}
		if cfg.HistoryCSV != "" {
			if err := hist.WriteCSVFile(cfg.HistoryCSV); err != nil {
				return hist, err
			}
		}
		if cfg.Checkpoint != "" {
			if err := checkpoint(m, cfg, position{epoch: epoch + 1, elapsed: elapsed()}, hist); err != nil {
				return hist, fmt.Errorf("checkpoint: %w", err)
			}
		}
		select {
		case <-done:
			if epoch+1 < cfg.Epochs {
				return hist, interrupted(m, cfg, position{epoch: epoch + 1, elapsed: elapsed()}, hist)
			}
		default:
		}
	}
	return hist, nil
}

// interrupted writes the checkpoint of a stopped run and returns the error
// that says where it stopped.
func interrupted(m *model.Model, cfg Config, at position, hist History) error {
	if cfg.Checkpoint == "" {
		return fmt.Errorf("%w at %s (no checkpoint)", ErrInterrupted, at)
	}
	if err := checkpoint(m, cfg, at, hist); err != nil {
		return fmt.Errorf("%w at %s, and its checkpoint failed: %w", ErrInterrupted, at, err)
	}
	return fmt.Errorf("%w at %s; checkpoint %s", ErrInterrupted, at, cfg.Checkpoint)
}

// checkFinite returns an error naming the first parameter that holds a NaN
// or an infinity.
func checkFinite(m *model.Model) error {
	ts, err := m.Tensors()
	if err != nil {
		return err
	}
	return model.CheckFinite(ts)
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

func bar(w io.Writer, epoch, epochs, step, steps int, loss float64) {
	const width = 30
	done := width * step / steps
	fmt.Fprintf(w, "\repoch %d/%d [%s%s] %3d%%  loss %.4f", epoch, epochs,
		strings.Repeat("=", done), strings.Repeat(" ", width-done), 100*step/steps, loss)
}

// String formats an epoch as one line of progress.
func (e Epoch) String() string {
	s := fmt.Sprintf("epoch %3d", e.Epoch)
	if !math.IsNaN(e.LR) {
		s += fmt.Sprintf("  lr %.5f", e.LR)
	}
	s += fmt.Sprintf("  train loss %.4f", e.TrainLoss)
	if !math.IsNaN(e.TrainAcc) {
		s += fmt.Sprintf("  acc %.4f", e.TrainAcc)
	}
	if !math.IsNaN(e.TestLoss) {
		s += fmt.Sprintf("  |  test loss %.4f", e.TestLoss)
	}
	if !math.IsNaN(e.TestAcc) {
		s += fmt.Sprintf("  acc %.4f", e.TestAcc)
	}
	return s + fmt.Sprintf("  (%.1fs)", e.Seconds)
}

// Evaluate runs m over d and returns the mean cross-entropy, the accuracy,
// the predicted classes and the full metrics report.
func Evaluate(m *model.Model, d *data.Dataset) (loss float64, r *metrics.Report, preds []int, err error) {
	b := m.Net.Params()[0].Value.Backend()
	od, err := upload(b, d)
	if err != nil {
		return 0, nil, nil, err
	}
	defer od.free()
	loss, _, preds, err = evaluate(m, od, 1000, Classify)
	if err != nil {
		return 0, nil, nil, err
	}
	labels := make([]int, d.N)
	for i, y := range d.Y {
		labels[i] = int(y)
	}
	r, err = metrics.Evaluate(labels, preds, d.ClassNames)
	return loss, r, preds, err
}

// EvaluateReconstruction returns an autoencoder's mean binary cross-entropy
// on d (over every pixel, as PyTorch's BCELoss).
func EvaluateReconstruction(m *model.Model, d *data.Dataset) (float64, error) {
	b := m.Net.Params()[0].Value.Backend()
	od, err := upload(b, d)
	if err != nil {
		return 0, err
	}
	defer od.free()
	loss, _, _, err := evaluate(m, od, 1000, Reconstruct)
	return loss, err
}

// evaluate runs the model over a device-resident dataset in batches: the
// mean loss of the task, and for classification the accuracy and the
// predicted classes (accuracy NaN otherwise).
func evaluate(m *model.Model, d *onDevice, batch int, task Task) (loss, acc float64, preds []int, err error) {
	b := d.x.Backend()
	batch = min(batch, d.n)
	idx := make([]float32, d.n)
	for i := range idx {
		idx[i] = float32(i)
	}
	order, err1 := tensor.FromSlice(b, idx, d.n)
	x, err2 := tensor.New(b, batch, d.host.Features)
	y, err3 := tensor.New(b, batch)
	pred, err4 := tensor.New(b, batch)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return 0, 0, nil, err
	}
	defer func() { order.Free(); x.Free(); y.Free(); pred.Free() }()
	var lossFn interface {
		nn.Loss
		Free()
	} = nn.NewCrossEntropyLoss()
	if task == Reconstruct {
		lossFn = nn.BCELoss()
	}
	defer lossFn.Free() // a fresh loss each pass: its buffers must not pile up on the device
	preds = make([]int, 0, d.n)
	host := make([]float32, batch)
	one := make([]float32, 1)
	right := 0
	for off := 0; off < d.n; off += batch {
		n := min(batch, d.n-off)
		if err := errors.Join(x.Resize(n, d.host.Features), y.Resize(n), pred.Resize(n)); err != nil {
			return 0, 0, nil, err
		}
		b.GatherRows(n, d.host.Features, d.x.Buffer(), order.Buffer(), off, x.Buffer())
		b.GatherRows(n, 1, d.y.Buffer(), order.Buffer(), off, y.Buffer())
		out, err := m.Net.Forward(x)
		if err != nil {
			return 0, 0, nil, err
		}
		target := y
		if task == Reconstruct {
			target = x
		}
		l, err := lossFn.Forward(out, target)
		if err != nil {
			return 0, 0, nil, err
		}
		if err := b.Download(one, l.Buffer()); err != nil {
			return 0, 0, nil, err
		}
		loss += float64(one[0]) * float64(n)
		if task == Reconstruct {
			continue
		}
		b.ArgmaxRows(n, out.Cols(), out.Buffer(), pred.Buffer())
		if err := b.Download(host[:n], pred.Buffer()); err != nil {
			return 0, 0, nil, err
		}
		for i, p := range host[:n] {
			preds = append(preds, int(p))
			if p == d.host.Y[off+i] {
				right++
			}
		}
	}
	if task == Reconstruct {
		return loss / float64(d.n), math.NaN(), nil, nil
	}
	return loss / float64(d.n), float64(right) / float64(d.n), preds, nil
}

// Checkpoint metadata keys.
const (
	metaEpoch    = "checkpoint.epoch"
	metaStep     = "checkpoint.step"     // steps done in the epoch after metaEpoch
	metaLossSum  = "checkpoint.loss_sum" // that epoch's running loss (float32 bits)
	metaSeconds  = "checkpoint.seconds"  // that epoch's seconds so far
	metaSteps    = "checkpoint.optimizer_steps"
	metaHistory  = "checkpoint.history"
	metaSettings = "checkpoint.setting." // prefix of Config.Settings
	metaElapsed  = "checkpoint.elapsed"  // the run's wall-clock seconds so far, across resumes
)

func checkpoint(m *model.Model, cfg Config, at position, hist History) error {
	meta := map[string]string{metaEpoch: strconv.Itoa(at.epoch), metaHistory: hist.csv(),
		metaElapsed: strconv.FormatFloat(at.elapsed, 'g', -1, 64)}
	if at.step > 0 {
		meta[metaStep] = strconv.Itoa(at.step)
		meta[metaLossSum] = strconv.FormatUint(uint64(math.Float32bits(at.lossSum)), 10)
		meta[metaSeconds] = strconv.FormatFloat(at.seconds, 'g', -1, 64)
	}
	for k, v := range cfg.Settings {
		meta[metaSettings+k] = v
	}
	var extra []safetensors.Tensor
	if st, ok := cfg.Optimizer.(nn.Stateful); ok {
		state, err := st.State(m.Net.Params())
		if err != nil {
			return err
		}
		for name, t := range state {
			v, err := t.Data()
			if err != nil {
				return err
			}
			extra = append(extra, safetensors.Tensor{Name: "optimizer." + name, Shape: append([]int(nil), t.Shape()...), Data: v})
		}
		meta[metaSteps] = strconv.Itoa(st.Steps())
	}
	return m.Save(cfg.Checkpoint, meta, extra...)
}

// settingsDiff lists, sorted, how the settings recorded in a checkpoint
// differ from want.
func settingsDiff(meta, want map[string]string) []string {
	var diffs []string
	seen := map[string]bool{}
	for k, v := range want {
		seen[k] = true
		if old, ok := meta[metaSettings+k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: not recorded in the checkpoint, %q now", k, v))
		} else if old != v {
			diffs = append(diffs, fmt.Sprintf("%s: %q in the checkpoint, %q now", k, old, v))
		}
	}
	for mk, old := range meta {
		if k, ok := strings.CutPrefix(mk, metaSettings); ok && !seen[k] {
			diffs = append(diffs, fmt.Sprintf("%s: %q in the checkpoint, not set now", k, old))
		}
	}
	slices.Sort(diffs)
	return diffs
}

// resume restores weights, optimizer state and history from cfg.Checkpoint
// if it exists, and returns where the run stands.
func resume(m *model.Model, train *data.Dataset, cfg Config) (position, History, error) {
	var pos position
	f, err := safetensors.ReadFile(cfg.Checkpoint)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return pos, nil, nil
		}
		return pos, nil, fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	if f.Metadata[model.MetaSpec] != m.Spec {
		return pos, nil, fmt.Errorf("%w: %s holds %q, not %q", ErrCheckpointMismatch, cfg.Checkpoint, f.Metadata[model.MetaSpec], m.Spec)
	}
	if diffs := settingsDiff(f.Metadata, cfg.Settings); len(diffs) > 0 {
		return pos, nil, fmt.Errorf("%w: %s was made with other settings:\n  %s", ErrCheckpointMismatch, cfg.Checkpoint, strings.Join(diffs, "\n  "))
	}
	bad := func(err error) (position, History, error) {
		return position{}, nil, fmt.Errorf("%w %s: %w", ErrBadCheckpoint, cfg.Checkpoint, err)
	}
	if err := model.CheckFinite(f.Tensors); err != nil {
		return bad(err)
	}
	for _, t := range f.Tensors { // Adam's second moments are squares
		if strings.HasPrefix(t.Name, "optimizer.v.") && slices.ContainsFunc(t.Data, func(v float32) bool { return v < 0 }) {
			return bad(fmt.Errorf("optimizer state %s has a negative value: a second moment cannot", t.Name))
		}
	}
	if pos.epoch, err = model.Atoi(f.Metadata, metaEpoch); err != nil {
		return bad(err)
	}
	if s, ok := f.Metadata[metaStep]; ok {
		if pos.step, err = strconv.Atoi(s); err != nil || pos.step <= 0 {
			return bad(fmt.Errorf("step %q", s))
		}
		bits, err1 := strconv.ParseUint(f.Metadata[metaLossSum], 10, 32)
		secs, err2 := strconv.ParseFloat(f.Metadata[metaSeconds], 64)
		if err1 != nil || err2 != nil {
			return bad(fmt.Errorf("loss sum %q or seconds %q", f.Metadata[metaLossSum], f.Metadata[metaSeconds]))
		}
		pos.lossSum, pos.seconds = math.Float32frombits(uint32(bits)), secs
	}
	steps := (train.N + cfg.Batch - 1) / cfg.Batch
	if pos.step >= steps {
		return bad(fmt.Errorf("step %d of an epoch of %d steps", pos.step, steps))
	}
	if pos.epoch < 0 || pos.epoch >= cfg.Epochs {
		return pos, nil, fmt.Errorf("%w: %s is at %s, but this run ends at epoch %d", ErrCheckpointMismatch, cfg.Checkpoint, pos, cfg.Epochs)
	}
	if err := m.SetParams(f); err != nil {
		return bad(err)
	}
	if st, ok := cfg.Optimizer.(nn.Stateful); ok {
		state, err := st.State(m.Net.Params())
		if err != nil {
			return pos, nil, err
		}
		for name, t := range state {
			saved, ok := f.Get("optimizer." + name)
			if !ok {
				return pos, nil, fmt.Errorf("%w: %s has no optimizer state %q (saved with another optimizer?)", ErrCheckpointMismatch, cfg.Checkpoint, name)
			}
			if err := t.Set(saved.Data); err != nil {
				return bad(fmt.Errorf("optimizer state %q: %w", name, err))
			}
		}
		if s, ok := f.Metadata[metaSteps]; ok {
			n, err := strconv.Atoi(s)
			// One update a step: a count that disagrees would change Adam's
			// bias correction. (SGD counts none.)
			if want := pos.epoch*steps + pos.step; err != nil || n < 0 || n != 0 && n != want {
				return bad(fmt.Errorf("optimizer steps %q: the checkpoint's position means %d", s, want))
			}
			st.SetSteps(n)
		}
	}
	hist, err := ReadCSV(strings.NewReader(f.Metadata[metaHistory]))
	if err != nil {
		return bad(fmt.Errorf("history: %w", err))
	}
	if len(hist) != pos.epoch {
		return bad(fmt.Errorf("history has %d epochs, the checkpoint is at %s", len(hist), pos))
	}
	for i, e := range hist {
		if e.Epoch != i+1 || math.IsNaN(e.TrainLoss) || math.IsInf(e.TrainLoss, 0) {
			return bad(fmt.Errorf("history row %d (epoch %d, train loss %v) is not a finished epoch %d", i+1, e.Epoch, e.TrainLoss, i+1))
		}
	}
	if v, ok := f.Metadata[metaElapsed]; ok {
		if pos.elapsed, err = strconv.ParseFloat(v, 64); err != nil || !(pos.elapsed >= 0) {
			return bad(fmt.Errorf("elapsed time %q", v))
		}
	}
	return pos, hist, nil
}
