package train

import (
	"math/rand/v2"
	"testing"

	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
)

// BenchmarkFitEpoch times one epoch of Fit (fmnist-relu, SGD with
// momentum, batch 128) on 60 000 synthetic samples, reporting samples/s:
// the loop's own overhead over nn.TrainStep shows against
// nn's BenchmarkTrainStep.
func BenchmarkFitEpoch(b *testing.B) {
	const n = 60000
	syn := &data.Dataset{Name: "syn", N: n, Features: 784, ClassNames: make([]string, 10), Y: make([]float32, n), X: make([]float32, n*784)}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range syn.X {
		syn.X[i] = rng.Float32()
	}
	for i := range syn.Y {
		syn.Y[i] = float32(rng.IntN(10))
	}
	m, err := buildOn(model.Presets["fmnist-relu"].Spec)
	if err != nil {
		b.Fatal(err)
	}
	opt := &nn.SGD{LR: 0.01, Momentum: 0.9}
	for b.Loop() {
		if _, err := Fit(m, syn, nil, Config{Epochs: 1, Batch: 128, Optimizer: opt, Seed: 1, CheckEvery: 1000}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
