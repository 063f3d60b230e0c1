package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/internal/testenv"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
)

// compareWithCPU trains fmnist-relu with the same seed on cpu and on b and
// requires per-epoch training losses within 1% relative and final test
// accuracies within 0.5 points. The GPU backends' tests call it; a
// 12 000-sample subset keeps it to a minute on PoCL.
func compareWithCPU(t *testing.T, b backend.Backend) {
	dir := testenv.DataDir(t)
	train, test, err := data.Load("fashion-mnist", data.Options{Dir: dir, NoDownload: true})
	if err != nil {
		t.Fatal(err)
	}
	train = train.Subset(rand.New(rand.NewPCG(1, 1)).Perm(train.N)[:12000])
	run := func(b backend.Backend) History {
		m, err := model.Build(b, model.Presets["fmnist-relu"].Spec, rand.New(rand.NewPCG(5, 5)))
		if err != nil {
			t.Fatal(err)
		}
		h, err := Fit(m, train, test, Config{Epochs: 3, Batch: 128, Optimizer: &nn.SGD{LR: 0.05, Momentum: 0.9}, Seed: 2})
		if err != nil {
			t.Fatalf("%s: %v", b.Name(), err)
		}
		return h
	}
	hc, hb := run(cpu.New()), run(b)
	for i := range hc {
		t.Logf("epoch %d: cpu loss %.5f acc %.4f | %s loss %.5f acc %.4f", i+1, hc[i].TrainLoss, hc[i].EvalAcc, b.Name(), hb[i].TrainLoss, hb[i].EvalAcc)
		if d := math.Abs(hb[i].TrainLoss-hc[i].TrainLoss) / hc[i].TrainLoss; d > 0.01 {
			t.Errorf("epoch %d: training losses differ by %.2f%%", i+1, 100*d)
		}
	}
	last := len(hc) - 1
	if d := math.Abs(hb[last].EvalAcc - hc[last].EvalAcc); d > 0.005 {
		t.Errorf("final test accuracies differ by %.2f points", 100*d)
	}
}
