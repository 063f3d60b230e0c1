package train

import (
	"math/rand/v2"
	"testing"

	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
)

func TestProfFit(t *testing.T) {
	syn := &data.Dataset{Name: "syn", N: 60000, Features: 784, ClassNames: make([]string, 10), Y: make([]float32, 60000), X: make([]float32, 60000*784)}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range syn.X {
		syn.X[i] = rng.Float32()
	}
	m := build(t, model.Presets["fmnist-relu"].Spec)
	h, _ := Fit(m, syn, nil, Config{Epochs: 2, Batch: 128, Optimizer: &nn.SGD{LR: 0.05, Momentum: 0.9}, Seed: 1, CheckEvery: 1000})
	t.Logf("%.2fs %.2fs", h[0].Seconds, h[1].Seconds)
}
