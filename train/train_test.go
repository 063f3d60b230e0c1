package train

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/internal/testenv"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
)

func dots(t *testing.T, n int, seed uint64) *data.Dataset {
	d, err := data.Dots(data.FourGaussians, n, 0.3, rand.New(rand.NewPCG(seed, 0)))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func build(t testing.TB, spec string) *model.Model {
	m, err := buildOn(spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func buildOn(spec string) (*model.Model, error) {
	return model.Build(cpu.New(), spec, rand.New(rand.NewPCG(1, 1)))
}

func TestFitLearnsDots(t *testing.T) {
	m := build(t, "linear(2,16) tanh linear(16,4)")
	var out bytes.Buffer
	hist, err := Fit(m, dots(t, 1000, 1), dots(t, 500, 2), Config{
		Epochs: 10, Batch: 32, Optimizer: nn.NewAdam(0.02), Schedule: nn.Cosine{Epochs: 10, MinFactor: 0.05},
		Seed: 3, Progress: &out, TrainMetrics: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if len(hist) != 10 || last.EvalAcc < 0.9 || last.TrainAcc < 0.9 || !(last.TrainLoss < hist[0].TrainLoss) {
		t.Errorf("history %+v", hist)
	}
	if strings.Count(out.String(), "\n") != 10 || !strings.Contains(out.String(), "eval loss") {
		t.Errorf("progress:\n%s", out.String())
	}
}

func TestFitStopsOnNaN(t *testing.T) {
	m := build(t, "linear(2,16) relu linear(16,4)")
	d := dots(t, 256, 1)
	for i := range d.X {
		d.X[i] *= 1e6 // with a huge rate, the loss overflows within a few steps
	}
	_, err := Fit(m, d, nil, Config{Epochs: 3, Batch: 16, Optimizer: nn.NewSGD(1e6), Seed: 1, MaxLoss: -1})
	if !errors.Is(err, ErrNotFinite) || !strings.Contains(err.Error(), "epoch 1, step") {
		t.Fatalf("error %v, want ErrNotFinite naming the epoch and step", err)
	}
	t.Log(err)
}

func TestFitRejectsMismatchedData(t *testing.T) {
	m := build(t, "linear(3,4)")
	if _, err := Fit(m, dots(t, 10, 1), nil, Config{Epochs: 1, Batch: 4, Optimizer: nn.NewSGD(0.1)}); err == nil ||
		!strings.Contains(err.Error(), "2 features") {
		t.Errorf("error %v", err)
	}
}

func TestResumeMatchesAnUninterruptedRun(t *testing.T) {
	dir := t.TempDir()
	train, test := dots(t, 300, 1), dots(t, 100, 2)
	cfg := func(epochs int, ckpt string) Config {
		return Config{Epochs: epochs, Batch: 32, Optimizer: nn.NewAdam(0.01), Seed: 9, Checkpoint: ckpt, Resume: true,
			Schedule: nn.Exponential{Gamma: 0.9}}
	}
	straight := build(t, "linear(2,8) tanh linear(8,4)")
	h1, err := Fit(straight, train, test, cfg(4, filepath.Join(dir, "a.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "b.safetensors")
	if _, err := Fit(build(t, "linear(2,8) tanh linear(8,4)"), train, test, cfg(2, ckpt)); err != nil {
		t.Fatal(err)
	}
	resumed := build(t, "linear(2,8) tanh linear(8,4)") // fresh weights: all must come from the checkpoint
	h2, err := Fit(resumed, train, test, cfg(4, ckpt))
	if err != nil {
		t.Fatal(err)
	}
	if len(h2) != 4 || h2[3].EvalLoss != h1[3].EvalLoss || h2[1].TrainLoss != h1[1].TrainLoss {
		t.Errorf("resumed history %+v, uninterrupted %+v", h2, h1)
	}
	sameWeights(t, straight, resumed)
}

// sameWeights fails the test unless the resumed model's weights equal the
// uninterrupted one's, bit for bit.
func sameWeights(t *testing.T, straight, resumed *model.Model) {
	t.Helper()
	p1, p2 := straight.Net.Params(), resumed.Net.Params()
	for i := range p1 {
		a, _ := p1[i].Value.Data()
		b, _ := p2[i].Value.Data()
		if !slices.Equal(a, b) {
			t.Errorf("%s differs between the resumed and the uninterrupted run", p1[i].Name)
		}
	}
}

func TestHistoryCSVRoundTrip(t *testing.T) {
	h := History{{Epoch: 1, LR: 0.1, TrainLoss: 0.5, TrainAcc: math.NaN(), EvalLoss: 0.6, EvalAcc: 0.8, Seconds: 1.5}}
	path := filepath.Join(t.TempDir(), "h.csv")
	if err := h.WriteCSVFile(path); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	g, err := ReadCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != 1 || g[0].EvalAcc != 0.8 || !math.IsNaN(g[0].TrainAcc) {
		t.Errorf("read %+v", g)
	}
	if _, err := ReadCSV(strings.NewReader("a,b\n")); err == nil {
		t.Error("a foreign header was accepted")
	}
}

// TestFashionMNISTLearns trains fmnist-relu for two epochs on the real data
// and requires a test accuracy that a broken gradient could not reach (a
// network whose hidden layers stay at their random initial weights reaches
// 0.63, measured by zeroing the hidden layers' gradients). In CI the
// data must be present.
func TestFashionMNISTLearns(t *testing.T) {
	dir := testenv.DataDir(t)
	if testing.Short() {
		t.Skip("-short")
	}
	train, test, err := data.Load("fashion-mnist", data.Options{Dir: dir, NoDownload: true})
	if err != nil {
		t.Fatal(err)
	}
	p := model.Presets["fmnist-relu"]
	m := build(t, p.Spec)
	hist, err := Fit(m, train, test, Config{Epochs: 2, Batch: 128, Optimizer: nn.NewAdam(1e-3), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	acc := hist[len(hist)-1].EvalAcc
	t.Logf("fmnist-relu, 2 epochs: test accuracy %.4f", acc)
	if acc < 0.84 {
		t.Errorf("test accuracy %.4f after 2 epochs, want ≥ 0.84", acc)
	}
}
