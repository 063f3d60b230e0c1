package train

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
)

// Checkpoint metadata keys.
const (
	metaEpoch     = "checkpoint.epoch"
	metaStep      = "checkpoint.step"     // steps done in the epoch after metaEpoch
	metaLossSum   = "checkpoint.loss_sum" // that epoch's running loss (float32 bits)
	metaSeconds   = "checkpoint.seconds"  // that epoch's seconds so far
	metaSteps     = "checkpoint.optimizer_steps"
	metaHistory   = "checkpoint.history"
	metaSettings  = "checkpoint.setting." // prefix of Config.Settings
	metaElapsed   = "checkpoint.elapsed"  // the run's wall-clock seconds so far, across resumes
	metaBestEpoch = "checkpoint.best_epoch"
)

// bestPrefix names the tensors of the best epoch's weights in a checkpoint
// of a run with early stopping: "best.0.weight", …
const bestPrefix = "best."

// checkFinite returns an error naming the first parameter of net that
// holds a NaN or an infinity.
func checkFinite(net nn.Module) error {
	ts, err := paramTensors(net.Params())
	if err != nil {
		return err
	}
	return model.CheckFinite(ts)
}

// paramTensors downloads params as safetensors tensors.
func paramTensors(params []nn.Param) ([]safetensors.Tensor, error) {
	ts := make([]safetensors.Tensor, 0, len(params))
	for _, p := range params {
		v, err := p.Value.Data()
		if err != nil {
			return nil, err
		}
		ts = append(ts, safetensors.Tensor{Name: p.Name, Shape: slices.Clone([]int(p.Value.Shape())), Data: v})
	}
	return ts, nil
}

// saveCheckpoint writes net, the optimizer's state and s to cfg.Checkpoint.
func saveCheckpoint(net nn.Module, spec string, cfg Config, s snapshot) error {
	at := s.pos
	meta := map[string]string{metaEpoch: strconv.Itoa(at.epoch), metaHistory: s.hist.csv(),
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
	params := net.Params()
	if st, ok := cfg.Optimizer.(nn.Stateful); ok {
		state, err := st.State(params)
		if err != nil {
			return err
		}
		for name, t := range state {
			v, err := t.Data()
			if err != nil {
				return err
			}
			extra = append(extra, safetensors.Tensor{Name: "optimizer." + name, Shape: slices.Clone([]int(t.Shape())), Data: v})
		}
		meta[metaSteps] = strconv.Itoa(st.Steps())
	}
	if s.best != nil && s.best.epoch > 0 {
		meta[metaBestEpoch] = strconv.Itoa(s.best.epoch)
		for i, p := range bestTensors(net) {
			extra = append(extra, safetensors.Tensor{Name: bestPrefix + p.Name, Shape: slices.Clone([]int(p.Value.Shape())), Data: s.best.values[i]})
		}
	}
	return model.SaveModule(cfg.Checkpoint, net, meta, extra...)
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

// resume restores weights, optimizer state, history and best weights from
// cfg.Checkpoint if it exists, and returns where the run stands.
func resume(net nn.Module, spec string, train *data.Dataset, cfg Config) (resumePoint, error) {
	var rp resumePoint
	f, err := safetensors.ReadFile(cfg.Checkpoint)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return rp, nil
		}
		return rp, fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	if f.Metadata[model.MetaSpec] != spec {
		return rp, fmt.Errorf("%w: %s holds %q, not %q", ErrCheckpointMismatch, cfg.Checkpoint, f.Metadata[model.MetaSpec], spec)
	}
	if diffs := settingsDiff(f.Metadata, cfg.Settings); len(diffs) > 0 {
		return rp, fmt.Errorf("%w: %s was made with other settings:\n  %s", ErrCheckpointMismatch, cfg.Checkpoint, strings.Join(diffs, "\n  "))
	}
	bad := func(err error) (resumePoint, error) {
		return resumePoint{}, fmt.Errorf("%w %s: %w", ErrBadCheckpoint, cfg.Checkpoint, err)
	}
	if err := model.CheckFinite(f.Tensors); err != nil {
		return bad(err)
	}
	for _, t := range f.Tensors { // Adam's second moments are squares
		if strings.HasPrefix(t.Name, "optimizer.v.") && slices.ContainsFunc(t.Data, func(v float32) bool { return v < 0 }) {
			return bad(fmt.Errorf("optimizer state %s has a negative value: a second moment cannot", t.Name))
		}
	}
	pos := &rp.pos
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
	batch := min(cfg.Batch, train.N)
	steps := (train.N + batch - 1) / batch
	if pos.step >= steps {
		return bad(fmt.Errorf("step %d of an epoch of %d steps", pos.step, steps))
	}
	if pos.epoch < 0 || pos.epoch >= cfg.Epochs {
		return rp, fmt.Errorf("%w: %s is at %s, but this run ends at epoch %d", ErrCheckpointMismatch, cfg.Checkpoint, *pos, cfg.Epochs)
	}
	hist, err := ReadCSV(strings.NewReader(f.Metadata[metaHistory]))
	if err != nil {
		return bad(fmt.Errorf("history: %w", err))
	}
	if len(hist) != pos.epoch {
		return bad(fmt.Errorf("history has %d epochs, the checkpoint is at %s", len(hist), *pos))
	}
	for i, e := range hist {
		if e.Epoch != i+1 || math.IsNaN(e.TrainLoss) || math.IsInf(e.TrainLoss, 0) {
			return bad(fmt.Errorf("history row %d (epoch %d, train loss %v) is not a finished epoch %d", i+1, e.Epoch, e.TrainLoss, i+1))
		}
	}
	params := net.Params()
	if es := cfg.EarlyStopping; es != nil {
		if best := hist.Best(es.MinDelta); best > 0 {
			if got := f.Metadata[metaBestEpoch]; got != strconv.Itoa(best) {
				return rp, fmt.Errorf("%w: %s records best epoch %q, its history says %d (made without early stopping, or with another min delta?)",
					ErrCheckpointMismatch, cfg.Checkpoint, got, best)
			}
			for _, p := range bestTensors(net) {
				t, ok := f.Get(bestPrefix + p.Name)
				if !ok || len(t.Data) != p.Value.Len() {
					return bad(fmt.Errorf("the best epoch's %s is missing or of another size", p.Name))
				}
				rp.best = append(rp.best, t.Data)
			}
		}
	}
	if err := model.LoadParams(net, f); err != nil {
		return bad(err)
	}
	if st, ok := cfg.Optimizer.(nn.Stateful); ok {
		state, err := st.State(params)
		if err != nil {
			return rp, err
		}
		for name, t := range state {
			saved, ok := f.Get("optimizer." + name)
			if !ok {
				return rp, fmt.Errorf("%w: %s has no optimizer state %q (saved with another optimizer?)", ErrCheckpointMismatch, cfg.Checkpoint, name)
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
	if v, ok := f.Metadata[metaElapsed]; ok {
		if pos.elapsed, err = strconv.ParseFloat(v, 64); err != nil || !(pos.elapsed >= 0) {
			return bad(fmt.Errorf("elapsed time %q", v))
		}
	}
	rp.hist = hist
	return rp, nil
}
