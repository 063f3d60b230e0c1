// Package train fits any nn.Module: a plain loop over epochs and
// mini-batches with what people expect around it.
//
// Fit uploads the dataset to the device once and gathers each shuffled
// batch there. Before every step it sets the learning rate from a schedule
// (factors of the optimizer's own rate, per epoch or per step, with
// warm-up), reseeds the network's random modules from (seed, epoch, step)
// and switches it to training mode; a Transform hook may rewrite the batch
// and choose the target (a denoising autoencoder's noisy input and clean
// target); gradients may be clipped by their global norm, on the device.
// After every epoch it evaluates in evaluation mode (Dropout off), appends
// a row to the History, and calls OnEpoch, which may stop the run; early
// stopping watches the evaluation loss and restores the best epoch's
// weights.
//
// Around the loop: a progress line per epoch and a live bar with samples
// per second and the time left, the history as CSV, divergence detection
// (a NaN, infinite or absurdly large loss, or weights that are no longer
// finite) that names the epoch and step, checkpoints to resume from
// exactly, even from the middle of an epoch, and a clean stop on request
// (Config.Context, e.g. Ctrl-C).
//
// The batch loop (loop.go) knows nothing of files or terminals: it reports
// what happens to an observer, and the reporter (report.go) prints, writes
// the CSV and the checkpoints.
//
// Predict runs a trained network over a dataset or over plain rows and
// returns its outputs on the host, with the classes and probabilities of a
// classifier.
package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
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
	// Joint: a joint autoencoder, whose output is a reconstruction of the
	// input (sigmoid outputs, as many as the input's values) followed by
	// class logits (one per class), as an nn.Concat of a decoder and a
	// classifier on one code gives it. The loss is the reconstruction's
	// binary cross-entropy plus ClassWeight times the cross-entropy of the
	// logits (an nn.SplitLoss against the input followed by the label);
	// accuracies are the classifier's.
	Joint
)

// Config controls Fit.
type Config struct {
	Task          Task
	Epochs, Batch int
	Optimizer     nn.Optimizer
	// Schedule scales the optimizer's rate: before every step Fit sets it
	// to base·Schedule.Factor, base being the optimizer's LearningRate
	// when Fit starts, and Fit sets base back when it returns. Nil keeps
	// the rate.
	Schedule nn.Schedule
	// Seed drives the shuffles (epoch e uses PCG(Seed, e)) and the random
	// modules (Dropout, GaussianNoise): before step s of epoch e, Fit calls
	// nn.Reseed with a mix of (Seed, e, s), so their draws depend on the
	// position (and each module's own seed, which Dropout mixes in) alone:
	// a resumed run of a network built the same way draws what it would
	// have drawn.
	Seed uint64

	// Loss is the training loss. Nil means the task's: cross-entropy of
	// logits against class labels (Classify), binary cross-entropy of
	// the output against the input (Reconstruct), or both (Joint; the
	// target is then the input followed by the label, batch × (values+1)).
	// Evaluation in Fit uses it too. With a loss of another scale, set
	// MaxLoss.
	Loss nn.Loss
	// ClassWeight is Joint's weight of the classifier's cross-entropy
	// beside the reconstruction's binary cross-entropy (weight 1): positive
	// and finite; 0 means 1. Other tasks ignore it.
	ClassWeight float64
	// Transform, if set, runs on every training batch before the step: x
	// holds the batch's inputs (gathered on the device, batch × the
	// dataset's sample shape), y its labels (batch values). It returns the
	// network's input and the loss's target — x and y, or tensors it
	// computed from them on the device: a noisy copy of x as the input and
	// x as the target trains a denoising autoencoder. The tensors it
	// returns are read before its next call; to keep a step free of
	// allocations, keep them between calls (tensor.Ensure). Evaluation
	// passes do not run it (see EvalTransform).
	Transform func(x, y *tensor.Tensor) (input, target *tensor.Tensor, err error)
	// EvalTransform is Transform for Fit's evaluation passes; nil gives
	// the network x and the loss the task's target (labels, or x itself).
	EvalTransform func(x, y *tensor.Tensor) (input, target *tensor.Tensor, err error)
	// ClipNorm, if positive, clips the gradients before every update so
	// that their global norm is at most ClipNorm (nn.GradClipper, on the
	// device: nothing is read back).
	ClipNorm float64
	// EarlyStopping, if set, stops training when the evaluation loss has
	// not improved for its Patience epochs, and leaves the network with
	// the weights of its best epoch. It needs an evaluation set.
	EarlyStopping *EarlyStopping
	// OnEpoch, if set, is called after every epoch (once its row is in the
	// history, printed and checkpointed) with the history so far. It may
	// return ErrStop (or an error wrapping it) to end training there, as a
	// success; any other error aborts Fit with it. The checkpoint does not
	// record such a stop: resuming it trains the epochs after it, calling
	// OnEpoch again (a run stopped by EarlyStopping stays stopped).
	OnEpoch func(h History) error

	// EvalName names the evaluation set in the progress lines: "test" for
	// a test split, "validation" for a hold-out of the training data.
	// Empty means "eval".
	EvalName string
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
	// stopped; Resume continues from it when it exists. Checkpoints hold
	// the network's spec (model.SpecOf), so the network must have one.
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

// EarlyStopping stops a run whose evaluation loss stopped improving.
type EarlyStopping struct {
	// Patience is how many epochs in a row may fail to improve on the
	// best before training stops (at least 1).
	Patience int
	// MinDelta is the margin an improvement needs: an epoch is the new
	// best when its loss is below the best's by more than MinDelta.
	MinDelta float64
}

// Epoch is one row of the history. Accuracies are NaN when not measured.
type Epoch struct {
	Epoch int // from 1
	// LR is the learning rate at the epoch's first step (NaN without a
	// schedule).
	LR                  float64
	TrainLoss, TrainAcc float64
	// EvalLoss and EvalAcc are measured on the evaluation set given to Fit
	// (a test split or a validation hold-out: Config.EvalName says which).
	EvalLoss, EvalAcc float64
	Seconds           float64
	// Elapsed is the run's wall-clock time at the end of the epoch, from
	// its start and across resumes (checkpoints carry it); 0 for rows read
	// back from a CSV.
	Elapsed float64
}

// History is the per-epoch record of a run.
type History []Epoch

// Best returns the number (from 1) of the epoch with the best evaluation
// loss in the sense of early stopping: the first epoch with a finite loss,
// replaced by every later one whose loss is lower by more than minDelta.
// It returns 0 when no epoch has an evaluation loss.
func (h History) Best(minDelta float64) int {
	best, loss := 0, math.Inf(1)
	for _, e := range h {
		if math.IsNaN(e.EvalLoss) || math.IsInf(e.EvalLoss, 0) {
			continue
		}
		if best == 0 || e.EvalLoss < loss-minDelta {
			best, loss = e.Epoch, e.EvalLoss
		}
	}
	return best
}

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
	// ErrStop is what Config.OnEpoch returns to end training cleanly.
	ErrStop = errors.New("stop training")
	// ErrNoParams: the module has no parameters, so there is nothing to
	// train and no backend to run on.
	ErrNoParams = errors.New("module has no parameters")
)

// backendOf returns the backend of net's parameters.
func backendOf(net nn.Module) (backend.Backend, []nn.Param, error) {
	if net == nil {
		return nil, nil, errors.New("train: no module")
	}
	params := net.Params()
	if len(params) == 0 {
		return nil, nil, fmt.Errorf("train: %T: %w: its backend is that of its parameters", net, ErrNoParams)
	}
	return params[0].Value.Backend(), params, nil
}

// sampleShape is the per-sample shape of d's inputs: (C×H×W) for images,
// (Features) for rows.
func sampleShape(d *data.Dataset) tensor.Shape { return tensor.Shape(d.SampleShape()) }

// reconShape is the per-sample shape of an autoencoder's output for inputs
// of shape in, which is the shape its target (the input itself) is viewed
// as: what the net says it outputs (a flattened image, say), a Model's
// Outputs, or else in.
func reconShape(net nn.Module, in tensor.Shape) tensor.Shape {
	if out, err := nn.OutputShape(net, in); err == nil && volume(out) == volume(in) {
		return out
	}
	if m, ok := net.(*model.Model); ok && m.Outputs == volume(in) {
		return tensor.Shape{m.Outputs}
	}
	return in
}

func volume(s tensor.Shape) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// describe names a module in messages: a Model by its spec.
func describe(net nn.Module) string {
	if m, ok := net.(*model.Model); ok {
		return fmt.Sprintf("the model %q", m.Spec)
	}
	if s, ok := net.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("the %T", net)
}

// checkData verifies that d suits net for task: by the shape net says it
// outputs (nn.OutputShape), or by a Model's Inputs and Outputs. A module
// that can say neither is checked by its first Forward. (An OutputShape
// error is not reported as such: nn gives no way to tell a module that
// cannot say from a shape that does not chain, and Forward names both.)
//
// With outputs false only the input is checked: a Transform chooses its
// own target, which need not be the task's.
func checkData(net nn.Module, d *data.Dataset, task Task, outputs bool) error {
	in := sampleShape(d)
	out, err := nn.OutputShape(net, in)
	if err != nil {
		m, ok := net.(*model.Model)
		if !ok {
			return nil // it cannot say: its first Forward checks the shapes
		}
		if d.Features != m.Inputs {
			return fmt.Errorf("train: %s has %d features but %s takes %d", d.Name, d.Features, describe(net), m.Inputs)
		}
		out = tensor.Shape{m.Outputs}
	}
	if !outputs {
		return nil
	}
	switch task {
	case Classify:
		if volume(out) != d.Classes() {
			return fmt.Errorf("train: %s has %d classes but %s has %d outputs", d.Name, d.Classes(), describe(net), volume(out))
		}
	case Reconstruct:
		if volume(out) != d.Features {
			return fmt.Errorf("train: an autoencoder for %s must output its %d features, but %s gives %d", d.Name, d.Features, describe(net), volume(out))
		}
	case Joint:
		if volume(out) != d.Features+d.Classes() {
			return fmt.Errorf("train: a joint autoencoder for %s must output its %d features and %d class scores (%d values), but %s gives %d",
				d.Name, d.Features, d.Classes(), d.Features+d.Classes(), describe(net), volume(out))
		}
	}
	return nil
}

// jointLoss is Joint's loss for samples of features values and classes
// classes: BCE on the reconstruction plus weight·cross-entropy.
func jointLoss(features, classes int, weight float64) *nn.SplitLoss {
	if weight == 0 {
		weight = 1
	}
	return nn.NewSplitLoss(nn.LossPart{Width: features, TargetWidth: features, Loss: nn.BCELoss(), Weight: 1},
		nn.LossPart{Width: classes, TargetWidth: 1, Labels: true, Loss: nn.NewCrossEntropyLoss(), Weight: float32(weight)})
}

// jointTarget writes Joint's target for n samples: each row's features
// values of x followed by its label y.
func jointTarget(b backend.Backend, n, features int, x, y, dst *tensor.Tensor) {
	b.CopyColumns(n, features, x.Buffer(), features, 0, dst.Buffer(), features+1, 0)
	b.CopyColumns(n, 1, y.Buffer(), 1, 0, dst.Buffer(), features+1, features)
}

// defaultLoss is the task's loss.
func defaultLoss(task Task) interface {
	nn.Loss
	Free()
} {
	if task == Reconstruct {
		return nn.BCELoss()
	}
	return nn.NewCrossEntropyLoss()
}

// Fit trains net on train, evaluating on eval (which may be nil) after
// each epoch, and returns the history. Net runs on the backend of its
// parameters; it may be a model.Model, a Sequential or any module.
//
// Fit switches net to training mode for its steps and to evaluation mode
// for its evaluation passes, and returns with net in evaluation mode
// (nn.SetTraining(net, false)), as Evaluate and Predict do: a Forward
// after Fit is inference, with Dropout off. A training loop of your own
// that follows Fit calls nn.SetTraining(net, true) first.
func Fit(net nn.Module, train, eval *data.Dataset, cfg Config) (History, error) {
	if cfg.Epochs <= 0 || cfg.Batch <= 0 {
		return nil, fmt.Errorf("train: epochs (%d) and batch size (%d) must be positive", cfg.Epochs, cfg.Batch)
	}
	if cfg.Optimizer == nil {
		return nil, errors.New("train: no optimizer")
	}
	if train == nil || train.N == 0 {
		return nil, errors.New("train: no training data")
	}
	b, _, err := backendOf(net)
	if err != nil {
		return nil, err
	}
	if err := checkData(net, train, cfg.Task, cfg.Transform == nil); err != nil {
		return nil, err
	}
	if eval != nil {
		if eval.N == 0 {
			return nil, fmt.Errorf("train: the evaluation set %s has no samples: give Fit nil for no evaluation", eval.Name)
		}
		if err := checkData(net, eval, cfg.Task, cfg.EvalTransform == nil); err != nil {
			return nil, err
		}
	}
	if !(cfg.ClassWeight >= 0) || math.IsInf(cfg.ClassWeight, 0) {
		return nil, fmt.Errorf("train: ClassWeight %v: want a positive, finite weight (or 0 for 1)", cfg.ClassWeight)
	}
	if !(cfg.ClipNorm >= 0) || math.IsInf(cfg.ClipNorm, 0) {
		return nil, fmt.Errorf("train: ClipNorm %v: want a positive, finite norm (or 0 for none)", cfg.ClipNorm)
	}
	if es := cfg.EarlyStopping; es != nil {
		if es.Patience < 1 || !(es.MinDelta >= 0) {
			return nil, fmt.Errorf("train: early stopping with patience %d and min delta %v: want patience ≥ 1 and min delta ≥ 0", es.Patience, es.MinDelta)
		}
		if eval == nil {
			return nil, errors.New("train: early stopping watches the evaluation loss: give Fit an evaluation set")
		}
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = 25
		if _, host := b.(backend.HostWrapper); host { // host memory: reading the loss costs no transfer
			cfg.CheckEvery = 1
		}
	}
	if cfg.EvalBatch <= 0 {
		cfg.EvalBatch = 1000
	}
	if cfg.EvalName == "" {
		cfg.EvalName = "eval"
	}
	if cfg.MaxLoss == 0 {
		cfg.MaxLoss = 20
		if cfg.Task == Classify || cfg.Task == Joint {
			cfg.MaxLoss = 100 * math.Log(float64(max(train.Classes(), 2)))
		}
	}
	var spec string
	if cfg.Checkpoint != "" {
		if spec, err = model.SpecOf(net); err != nil {
			return nil, fmt.Errorf("train: checkpoints record the network's spec: %w", err)
		}
	}
	base := cfg.Optimizer.LearningRate()
	defer cfg.Optimizer.SetLR(base)

	var start resumePoint
	if cfg.Resume && cfg.Checkpoint != "" {
		if start, err = resume(net, spec, train, cfg); err != nil {
			return nil, err
		}
	}
	rep := newReporter(net, spec, cfg)
	t, err := newTrainer(net, train, eval, cfg, base, rep)
	if err != nil {
		return nil, err
	}
	defer t.free()
	// Training is over when Fit returns, whatever the outcome: the network
	// is left ready for inference, as Evaluate and Predict leave it.
	defer nn.SetTraining(net, false)
	return t.run(start)
}
