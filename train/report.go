package train

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/diynn/diynn/nn"
)

// reporter is the observer that Fit gives the loop: it prints progress,
// rewrites the history CSV and writes checkpoints. It runs no step.
type reporter struct {
	cfg  Config
	net  nn.Module
	spec string // the network's spec, for checkpoints ("" without them)
	w    io.Writer
}

func newReporter(net nn.Module, spec string, cfg Config) *reporter {
	return &reporter{cfg: cfg, net: net, spec: spec, w: cfg.Progress}
}

func (r *reporter) resumed(pos position) {
	if r.w != nil {
		fmt.Fprintf(r.w, "resuming from %s at %s\n", r.cfg.Checkpoint, pos)
	}
}

func (r *reporter) checked(p stepReport) {
	if r.cfg.Bar && r.w != nil {
		bar(r.w, p)
	}
}

func (r *reporter) epochDone(e Epoch, p stepReport, s snapshot) error {
	if r.w != nil {
		if r.cfg.Bar {
			fmt.Fprint(r.w, "\r\033[K")
		}
		fmt.Fprintln(r.w, e.line(r.cfg.EvalName, p.samplesPerSecond, p.left, e.Epoch < r.cfg.Epochs))
	}
	if r.cfg.HistoryCSV != "" {
		if err := s.hist.WriteCSVFile(r.cfg.HistoryCSV); err != nil {
			return err
		}
	}
	if r.cfg.Checkpoint != "" {
		if err := saveCheckpoint(r.net, r.spec, r.cfg, s); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
}

func (r *reporter) stopping(reason string) {
	if r.w != nil {
		fmt.Fprintln(r.w, reason)
	}
}

// interrupted writes the checkpoint of a stopped run and returns the error
// that says where it stopped.
func (r *reporter) interrupted(s snapshot) error {
	if r.cfg.Checkpoint == "" {
		return fmt.Errorf("%w at %s (no checkpoint)", ErrInterrupted, s.pos)
	}
	if err := saveCheckpoint(r.net, r.spec, r.cfg, s); err != nil {
		return fmt.Errorf("%w at %s, and its checkpoint failed: %w", ErrInterrupted, s.pos, err)
	}
	return fmt.Errorf("%w at %s; checkpoint %s", ErrInterrupted, s.pos, r.cfg.Checkpoint)
}

// bar draws the live progress bar over the current line.
func bar(w io.Writer, p stepReport) {
	const width = 30
	done := width * p.step / p.steps
	fmt.Fprintf(w, "\repoch %d/%d [%s%s] %3d%%  loss %.4f%s", p.epoch, p.epochs,
		strings.Repeat("=", done), strings.Repeat(" ", width-done), 100*p.step/p.steps, p.loss, rateAndLeft("  ", p.samplesPerSecond, p.left, true))
}

// rateAndLeft formats the throughput and, when more is to come, the time
// left, each after sep; nothing for what is not measured yet.
func rateAndLeft(sep string, samplesPerSecond float64, left time.Duration, more bool) string {
	s := ""
	if samplesPerSecond > 0 {
		s += fmt.Sprintf("%s%.0f samples/s", sep, samplesPerSecond)
	}
	if more && left > 0 {
		s += sep + formatLeft(left) + " left"
	}
	return s
}

// formatLeft writes a duration as people read a countdown: 45s, 3m07s,
// 1h02m.
func formatLeft(d time.Duration) string {
	s := int(math.Round(d.Seconds()))
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
}

// String formats an epoch as one line of progress, naming the evaluation
// set "eval".
func (e Epoch) String() string { return e.line("eval", 0, 0, false) }

// line formats an epoch as one line of progress, with the evaluation set
// named and, where measured, the training throughput and the time left.
func (e Epoch) line(evalName string, samplesPerSecond float64, left time.Duration, more bool) string {
	s := fmt.Sprintf("epoch %3d", e.Epoch)
	if !math.IsNaN(e.LR) {
		s += fmt.Sprintf("  lr %.5f", e.LR)
	}
	s += fmt.Sprintf("  train loss %.4f", e.TrainLoss)
	if !math.IsNaN(e.TrainAcc) {
		s += fmt.Sprintf("  acc %.4f", e.TrainAcc)
	}
	if !math.IsNaN(e.EvalLoss) {
		s += fmt.Sprintf("  |  %s loss %.4f", evalName, e.EvalLoss)
	}
	if !math.IsNaN(e.EvalAcc) {
		s += fmt.Sprintf("  acc %.4f", e.EvalAcc)
	}
	s += fmt.Sprintf("  (%.1fs", e.Seconds)
	return s + rateAndLeft(", ", samplesPerSecond, left, more) + ")"
}
