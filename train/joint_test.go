package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/nn"
)

// noisySquares is squares with every pixel moved into (0.05, 0.95) by
// noise, so that the reconstruction's BCE has something to learn.
func noisySquares(n int, seed uint64) *data.Dataset {
	pats := [][]float32{{1, 0, 0, 1}, {0, 1, 1, 0}, {1, 1, 0, 0}, {0, 0, 1, 1}}
	rng := rand.New(rand.NewPCG(seed, 9))
	d := &data.Dataset{Name: "noisy squares", N: n, Features: 4, ClassNames: []string{"a", "b", "c", "d"}}
	for i := range n {
		for _, p := range pats[i%4] {
			d.X = append(d.X, 0.05+0.9*(0.8*p+0.2*float32(rng.Float64())))
		}
		d.Y = append(d.Y, float32(i%4))
	}
	return d
}

// jointNet is a joint autoencoder: a code of 3, a tied decoder and a
// classifier on the code.
func jointNet(b backend.Backend, classes int) *nn.Sequential {
	rng := rand.New(rand.NewPCG(3, 3))
	enc, _ := nn.NewLinear(b, 4, 3, nn.InitDefault, rng)
	dec, _ := nn.NewTiedLinear(enc, rng)
	cls, _ := nn.NewLinear(b, 3, classes, nn.InitDefault, rng)
	return nn.NewSequential(enc, nn.Tanh(), nn.NewConcat(nn.NewSequential(dec, nn.Sigmoid()), cls))
}

// Fit trains both heads, and EvaluateJoint's losses and accuracy agree with
// a float64 computation from Predict's outputs.
func TestFitJoint(t *testing.T) {
	b := cpu.New()
	tr, ev := noisySquares(256, 1), noisySquares(64, 2)
	net := jointNet(b, 4)
	before, err := EvaluateJoint(net, ev)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := Fit(net, tr, ev, Config{Task: Joint, Epochs: 40, Batch: 16, Optimizer: nn.NewAdam(0.05), ClassWeight: 0.5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := EvaluateJoint(net, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Report.Accuracy != 1 || got.BCE >= before.BCE {
		t.Errorf("after training: accuracy %.3f (want 1), BCE %.4f (before %.4f)", got.Report.Accuracy, got.BCE, before.BCE)
	}
	if last := hist[len(hist)-1]; last.EvalAcc != got.Report.Accuracy || math.Abs(last.EvalLoss-(got.BCE+0.5*got.CrossEntropy)) > 1e-5 {
		t.Errorf("history's last epoch: loss %.6f, accuracy %.4f; EvaluateJoint: BCE + 0.5·CE = %.6f, accuracy %.4f",
			last.EvalLoss, last.EvalAcc, got.BCE+0.5*got.CrossEntropy, got.Report.Accuracy)
	}
	p, err := Predict(net, ev)
	if err != nil {
		t.Fatal(err)
	}
	var bce, ce float64
	right := 0
	for i := range ev.N {
		row := p.Row(i)
		for j := range 4 {
			x, y := float64(ev.X[i*4+j]), float64(row[j])
			bce -= x*math.Log(y) + (1-x)*math.Log(1-y)
		}
		logits, label := row[4:], int(ev.Y[i])
		m, best := math.Inf(-1), 0
		for k, v := range logits {
			if float64(v) > m {
				m, best = float64(v), k
			}
		}
		var z float64
		for _, v := range logits {
			z += math.Exp(float64(v) - m)
		}
		ce -= float64(logits[label]) - m - math.Log(z)
		if best == label {
			right++
		}
	}
	bce /= float64(ev.N * 4)
	ce /= float64(ev.N)
	if math.Abs(bce-got.BCE) > 1e-5 || math.Abs(ce-got.CrossEntropy) > 1e-5 || float64(right)/float64(ev.N) != got.Report.Accuracy {
		t.Errorf("EvaluateJoint: BCE %.6f, CE %.6f, accuracy %.4f; from Predict in float64: %.6f, %.6f, %.4f",
			got.BCE, got.CrossEntropy, got.Report.Accuracy, bce, ce, float64(right)/float64(ev.N))
	}
}

func TestJointRefusesOtherOutputs(t *testing.T) {
	b := cpu.New()
	_, err := Fit(jointNet(b, 3), noisySquares(32, 1), nil, Config{Task: Joint, Epochs: 1, Batch: 8, Optimizer: nn.NewSGD(0.1)})
	if err == nil || !strings.Contains(err.Error(), "4 features and 4 class scores (8 values)") {
		t.Errorf("a joint net with 3 class scores for 4 classes: %v", err)
	}
	_, err = Fit(jointNet(b, 4), noisySquares(32, 1), nil, Config{Task: Joint, Epochs: 1, Batch: 8, Optimizer: nn.NewSGD(0.1), ClassWeight: -1})
	if err == nil || !strings.Contains(err.Error(), "ClassWeight -1") {
		t.Errorf("ClassWeight -1: %v", err)
	}
}

func TestJointStepAllocatesNothing(t *testing.T) {
	b := cpu.New()
	net := jointNet(b, 4)
	cfg := Config{Task: Joint, Epochs: 1, Batch: 16, Optimizer: nn.NewAdam(0.01), CheckEvery: 1, EvalBatch: 1000}
	tr, err := newTrainer(net, noisySquares(160, 1), nil, cfg, 0.01, newReporter(net, "", cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.free()
	stepsAllocateNothing(t, tr, net)
}
