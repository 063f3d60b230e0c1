package nn_test

import (
	"math/rand/v2"
	"testing"

	"github.com/diynn/diynn/nn"
)

// BenchmarkTrainStep times one step (forward, loss, backward, SGD momentum)
// of the 784-176-42-10 classifier at batch 128 on the CPU backend.
func BenchmarkTrainStep(b *testing.B) {
	net, x, y := fmnistNet(b, rand.New(rand.NewPCG(3, 3)))
	opt, loss := &nn.SGD{LR: 0.05, Momentum: 0.9}, nn.NewCrossEntropyLoss()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nn.TrainStep(net, loss, opt, x, y); err != nil {
			b.Fatal(err)
		}
	}
}
