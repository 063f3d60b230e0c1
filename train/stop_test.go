package train

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/safetensors"
)

// A finite blow-up (the issue's -lr 1e30 on Iris reached 2.7e30) is
// divergence too, named with its epoch and step.
func TestFitStopsOnAFiniteBlowUp(t *testing.T) {
	cases := []struct {
		name    string
		maxLoss float64
		want    error
	}{
		{"default bound", 0, ErrDiverged},
		{"explicit bound", 50, ErrDiverged},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := build(t, "linear(2,16) relu linear(16,4)")
			d := dots(t, 256, 1)
			for i := range d.X {
				d.X[i] *= 1e3
			}
			_, err := Fit(m, d, nil, Config{Epochs: 3, Batch: 16, Optimizer: nn.NewSGD(1e3), Seed: 1, MaxLoss: c.maxLoss})
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "epoch 1, step") {
				t.Fatalf("error %v, want %v naming the epoch and step", err, c.want)
			}
			t.Log(err)
		})
	}
	// A healthy run is not stopped by the default bound.
	m := build(t, "linear(2,16) tanh linear(16,4)")
	if _, err := Fit(m, dots(t, 256, 1), nil, Config{Epochs: 3, Batch: 16, Optimizer: nn.NewAdam(0.01), Seed: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFiniteNamesTheWeight(t *testing.T) {
	m := build(t, "linear(2,3) tanh linear(3,4)")
	if err := checkFinite(m); err != nil {
		t.Fatal(err)
	}
	p := m.Net.Params()[2] // 2.weight
	v, _ := p.Value.Data()
	v[5] = float32(math.Inf(-1))
	p.Value.Set(v)
	if err := checkFinite(m); err == nil || !strings.Contains(err.Error(), p.Name+"[5] is -Inf") {
		t.Errorf("checkFinite: %v, want it to name %s[5]", err, p.Name)
	}
}

// stopAfter cancels a context after n progress writes: with Bar and
// CheckEvery 1, one write per step.
type stopAfter struct {
	n      int
	cancel context.CancelFunc
}

func (s *stopAfter) Write(b []byte) (int, error) {
	if s.n--; s.n == 0 {
		s.cancel()
	}
	return len(b), nil
}

// Stopping mid-epoch writes a checkpoint from which the run resumes to the
// same weights and history as a run never stopped: the Ctrl-C promise.
func TestInterruptMidEpochThenResumeIsExact(t *testing.T) {
	dir := t.TempDir()
	train, test := dots(t, 300, 1), dots(t, 100, 2)
	settings := map[string]string{"data": "dots", "seed": "9"}
	cfg := func(ckpt string) Config {
		return Config{Epochs: 3, Batch: 32, Optimizer: nn.NewAdam(0.01), Seed: 9, Checkpoint: ckpt, Resume: true,
			Schedule: nn.Exponential{Gamma: 0.9}, CheckEvery: 1, Settings: settings, TrainMetrics: true}
	}
	straight := build(t, "linear(2,8) tanh linear(8,4)")
	h1, err := Fit(straight, train, test, cfg(filepath.Join(dir, "a.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "b.safetensors")
	// 10 steps an epoch: stop in epoch 2 (after step 2), then again at its
	// last step, which finishes the epoch first.
	// Each stop counts writes from its start: epoch 1 writes 12 (10 bar
	// updates, a clear, its line), a resumed run first its "resuming" line.
	for _, stop := range []struct {
		writes int
		at     string
	}{{12 + 2, "epoch 2, step 2"}, {1 + 8, "the end of epoch 2"}} {
		stopAt := stop.writes
		ctx, cancel := context.WithCancel(context.Background())
		c := cfg(ckpt)
		c.Context, c.Bar, c.Progress = ctx, true, &stopAfter{n: stopAt, cancel: cancel}
		_, err = Fit(build(t, "linear(2,8) tanh linear(8,4)"), train, test, c)
		cancel()
		if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "at "+stop.at+";") {
			t.Fatalf("stop after %d writes: %v, want ErrInterrupted at %s", stopAt, err, stop.at)
		}
		t.Log(err)
	}
	resumed := build(t, "linear(2,8) tanh linear(8,4)")
	h2, err := Fit(resumed, train, test, cfg(ckpt))
	if err != nil {
		t.Fatal(err)
	}
	if len(h2) != len(h1) {
		t.Fatalf("resumed history has %d epochs, want %d", len(h2), len(h1))
	}
	for i := range h1 {
		a, b := h1[i], h2[i]
		a.Seconds, b.Seconds, a.Elapsed, b.Elapsed = 0, 0, 0, 0
		if a != b {
			t.Errorf("epoch %d: resumed %+v, uninterrupted %+v", i+1, b, a)
		}
	}
	sameWeights(t, straight, resumed)
}

func TestResumeRefusesAnotherRun(t *testing.T) {
	train := dots(t, 200, 1)
	ckpt := filepath.Join(t.TempDir(), "c.safetensors")
	base := Config{Epochs: 3, Batch: 32, Optimizer: nn.NewAdam(0.01), Seed: 9, Checkpoint: ckpt, Resume: true,
		Settings: map[string]string{"data": "dots", "seed": "9", "optimizer": "adam"}}
	first := base
	first.Epochs = 2
	if _, err := Fit(build(t, "linear(2,8) tanh linear(8,4)"), train, nil, first); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"other seed", func(c *Config) {
			c.Settings = map[string]string{"data": "dots", "seed": "7", "optimizer": "adam"}
		}, `seed: "9" in the checkpoint, "7" now`},
		{"other dataset", func(c *Config) {
			c.Settings = map[string]string{"data": "iris", "seed": "9", "optimizer": "adam"}
		}, `data: "dots" in the checkpoint, "iris" now`},
		{"setting dropped", func(c *Config) {
			c.Settings = map[string]string{"data": "dots", "seed": "9"}
		}, `optimizer: "adam" in the checkpoint, not set now`},
		{"fewer epochs than done", func(c *Config) { c.Epochs = 1 }, "at the end of epoch 2, but this run ends at epoch 1"},
		{"as many epochs as done", func(c *Config) { c.Epochs = 2 }, "at the end of epoch 2, but this run ends at epoch 2"},
		{"other optimizer state", func(c *Config) { c.Optimizer = &nn.SGD{LR: 0.1, Momentum: 0.9} }, "no optimizer state"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			c.change(&cfg)
			_, err := Fit(build(t, "linear(2,8) tanh linear(8,4)"), train, nil, cfg)
			if !errors.Is(err, ErrCheckpointMismatch) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want ErrCheckpointMismatch with %q", err, c.want)
			}
		})
	}
	if _, err := Fit(build(t, "linear(2,8) relu linear(8,4)"), train, nil, base); !errors.Is(err, ErrCheckpointMismatch) {
		t.Errorf("another spec: %v", err)
	}
	if _, err := Fit(build(t, "linear(2,8) tanh linear(8,4)"), train, nil, base); err != nil {
		t.Errorf("the same run: %v", err)
	}
}

// Evaluation passes free what they allocate: on a GPU nothing else would.
func TestEvaluateFreesItsBuffers(t *testing.T) {
	for _, task := range []Task{Classify, Reconstruct} {
		m := build(t, "linear(2,4) sigmoid")
		d := dots(t, 50, 1)
		if task == Reconstruct {
			m = build(t, "linear(2,3) sigmoid linear(3,2) sigmoid")
			for i := range d.X {
				d.X[i] = float32(math.Abs(float64(d.X[i]))) / 10
			}
		}
		b := m.Net.Params()[0].Value.Backend()
		od, err := upload(b, d)
		if err != nil {
			t.Fatal(err)
		}
		loss := defaultLoss(task)
		evaluate(m, od, 16, task, loss, nil) // the first pass sizes the model's and the loss's own buffers
		before := b.MemStats().LiveBytes
		for range 3 {
			if _, err := evaluate(m, od, 16, task, loss, nil); err != nil {
				t.Fatal(err)
			}
		}
		if after := b.MemStats().LiveBytes; after != before {
			t.Errorf("task %d: three evaluations left %d bytes more on the device", task, after-before)
		}
		od.free()
		loss.Free()
	}
}

// A checkpoint that is not a sane state of this run is refused, not
// resumed: NaN state, a step past the end of an epoch.
func TestResumeRefusesABadCheckpoint(t *testing.T) {
	train := dots(t, 200, 1) // 7 steps of 32
	cases := []struct {
		name   string
		mangle func(f *safetensors.File)
		want   string
	}{
		{"NaN weight", func(f *safetensors.File) { f.Tensors[0].Data[0] = float32(math.NaN()) }, "is NaN"},
		{"Inf optimizer state", func(f *safetensors.File) {
			for i := range f.Tensors {
				if strings.HasPrefix(f.Tensors[i].Name, "optimizer.") {
					f.Tensors[i].Data[0] = float32(math.Inf(1))
				}
			}
		}, "is +Inf"},
		{"step past the epoch", func(f *safetensors.File) {
			f.Metadata["checkpoint.step"], f.Metadata["checkpoint.loss_sum"], f.Metadata["checkpoint.seconds"] = "99999", "0", "0"
		}, "step 99999 of an epoch of 7 steps"},
		{"history of another length", func(f *safetensors.File) {
			f.Metadata["checkpoint.epoch"], f.Metadata["checkpoint.optimizer_steps"] = "1", "7"
		}, "history has 2 epochs"},
		{"optimizer steps off", func(f *safetensors.File) { f.Metadata["checkpoint.optimizer_steps"] = "3" }, `optimizer steps "3": the checkpoint's position means 14`},
		{"negative second moment", func(f *safetensors.File) {
			for i := range f.Tensors {
				if strings.HasPrefix(f.Tensors[i].Name, "optimizer.v.") {
					f.Tensors[i].Data[0] = -1
				}
			}
		}, "has a negative value"},
		{"NaN in the history", func(f *safetensors.File) {
			f.Metadata["checkpoint.history"] = strings.Replace(f.Metadata["checkpoint.history"], "\n1,", "\n1,NaN,NaN", 1)
		}, "history"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ckpt := filepath.Join(t.TempDir(), "c.safetensors")
			cfg := Config{Epochs: 2, Batch: 32, Optimizer: nn.NewAdam(0.01), Seed: 9, Checkpoint: ckpt, Resume: true}
			if _, err := Fit(build(t, "linear(2,8) tanh linear(8,4)"), train, nil, cfg); err != nil {
				t.Fatal(err)
			}
			f, err := safetensors.ReadFile(ckpt)
			if err != nil {
				t.Fatal(err)
			}
			c.mangle(f)
			if err := safetensors.WriteFile(ckpt, f); err != nil {
				t.Fatal(err)
			}
			cfg.Epochs = 3
			_, err = Fit(build(t, "linear(2,8) tanh linear(8,4)"), train, nil, cfg)
			if !errors.Is(err, ErrBadCheckpoint) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want ErrBadCheckpoint with %q", err, c.want)
			}
		})
	}
}

func TestResumeRefusesAnUnreadableCheckpoint(t *testing.T) {
	train := dots(t, 200, 1)
	ckpt := filepath.Join(t.TempDir(), "c.safetensors")
	cfg := Config{Epochs: 2, Batch: 32, Optimizer: nn.NewAdam(0.01), Seed: 9, Checkpoint: ckpt, Resume: true}
	if _, err := Fit(build(t, "linear(2,8) tanh linear(8,4)"), train, nil, cfg); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(ckpt)
	for _, cut := range []int{0, 50, len(b) - 100} {
		os.WriteFile(ckpt, b[:cut], 0o644)
		cfg.Epochs = 3
		if _, err := Fit(build(t, "linear(2,8) tanh linear(8,4)"), train, nil, cfg); !errors.Is(err, ErrBadCheckpoint) {
			t.Errorf("checkpoint cut to %d bytes: %v, want ErrBadCheckpoint", cut, err)
		}
	}
}
