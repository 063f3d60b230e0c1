package nntest

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// CheckSteadyState trains the 784-176-42-10 classifier of the benchmarks
// for a few steps on b, with SGD and with Adam, and requires that no step
// after the first allocates a buffer: layers and optimizers keep theirs,
// so a GPU backend's training loop makes no device allocation at all.
func CheckSteadyState(t *testing.T, b backend.Backend) {
	for _, opt := range []nn.Optimizer{&nn.SGD{LR: 0.05, Momentum: 0.9}, nn.NewAdam(1e-3)} {
		net, x, y, err := FMNISTNet(b, rand.New(rand.NewPCG(3, 3)))
		if err != nil {
			t.Fatal(err)
		}
		loss := nn.NewCrossEntropyLoss()
		var before backend.MemStats
		for step := 0; step < 6; step++ {
			if step == 1 { // the first step allocates activations and optimizer state
				before = b.MemStats()
			}
			if _, err := nn.TrainStep(net, loss, opt, x, y); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
		if after := b.MemStats(); after.Allocs != before.Allocs {
			t.Errorf("%T: %d buffer allocations in 5 steady-state steps, want 0", opt, after.Allocs-before.Allocs)
		}
	}
}

// FMNISTNet builds the 784-176-42-10 classifier of the benchmarks (tanh,
// relu) on b, with a batch of 128 random inputs and class labels.
func FMNISTNet(b backend.Backend, rng *rand.Rand) (net *nn.Sequential, x, y *tensor.Tensor, err error) {
	l1, err1 := nn.NewLinear(b, 784, 176, nn.InitDefault, rng)
	l2, err2 := nn.NewLinear(b, 176, 42, nn.InitDefault, rng)
	l3, err3 := nn.NewLinear(b, 42, 10, nn.InitDefault, rng)
	x, err4 := tensor.Uniform(b, rng, 0, 1, 128, 784)
	labels := make([]float32, 128)
	for i := range labels {
		labels[i] = float32(i % 10)
	}
	y, err5 := tensor.FromSlice(b, labels, 128)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, nil, nil, err
	}
	return nn.NewSequential(l1, nn.Tanh(), l2, nn.ReLU(), l3), x, y, nil
}
