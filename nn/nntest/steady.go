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
//
// The same holds for a network with Dropout and GaussianNoise
// (RegularisedNet), reseeded before every step as train.Fit does, and for a
// small CNN with batch normalisation and every convolutional module
// (CNNNet).
func CheckSteadyState(t *testing.T, b backend.Backend) {
	nets := []func(backend.Backend, *rand.Rand) (*nn.Sequential, *tensor.Tensor, *tensor.Tensor, error){FMNISTNet, RegularisedNet, CNNNet}
	for k := range 2 * len(nets) {
		opt := []nn.Optimizer{&nn.SGD{LR: 0.05, Momentum: 0.9}, nn.NewAdam(1e-3)}[k%2]
		net, x, y, err := nets[k/2](b, rand.New(rand.NewPCG(3, 3)))
		if err != nil {
			t.Fatal(err)
		}
		loss := nn.NewCrossEntropyLoss()
		var before backend.MemStats
		for step := 0; step < 6; step++ {
			if step == 1 { // the first step allocates activations and optimizer state
				before = b.MemStats()
			}
			nn.Reseed(net, uint64(step))
			if _, err := nn.TrainStep(net, loss, opt, x, y); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
		if after := b.MemStats(); after.Allocs != before.Allocs {
			t.Errorf("network %d, %T: %d buffer allocations in 5 steady-state steps, want 0", k/2, opt, after.Allocs-before.Allocs)
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

// RegularisedNet is FMNISTNet with GaussianNoise(0.1) on its input and
// Dropout(0.5) and Dropout(0.2) after its hidden layers: the network of the
// steady-state tests for modules that draw random numbers.
func RegularisedNet(b backend.Backend, rng *rand.Rand) (net *nn.Sequential, x, y *tensor.Tensor, err error) {
	plain, x, y, err := FMNISTNet(b, rng)
	if err != nil {
		return nil, nil, nil, err
	}
	noise, err1 := nn.NewGaussianNoise(0.1, 1)
	d1, err2 := nn.NewDropout(0.5, 2)
	d2, err3 := nn.NewDropout(0.2, 3)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, nil, nil, err
	}
	m := plain.Modules
	return nn.NewSequential(noise, m[0], m[1], d1, m[2], m[3], d2, m[4]), x, y, nil
}

// CNNNet is a small convolutional classifier of 1×12×12 images, with a
// batch of 16 random inputs and class labels: conv, batchnorm2d, relu,
// maxpool, conv with stride and padding, avgpool, a transposed convolution,
// global average pooling, batchnorm1d, reshape, flatten and linear, so that
// every convolutional module is in the steady-state tests.
func CNNNet(b backend.Backend, rng *rand.Rand) (net *nn.Sequential, x, y *tensor.Tensor, err error) {
	c1, err1 := nn.NewConv2D(b, 1, 4, 3, 1, 1, false, rng)
	bn1, err2 := nn.NewBatchNorm2D(b, 4)
	mp, err3 := nn.NewMaxPool2D(2, 0, 0)                              // 6×6
	c2, err4 := nn.NewConv2D(b, 4, 6, 3, 2, 1, true, rng)             // 3×3
	ct, err5 := nn.NewConvTranspose2D(b, 6, 5, 3, 2, 1, 1, true, rng) // 6×6
	ap, err6 := nn.NewAvgPool2D(2, 0, 0)                              // 3×3
	bn2, err7 := nn.NewBatchNorm1D(b, 5)
	rs, err8 := nn.NewReshape(5, 1, 1)
	l, err9 := nn.NewLinear(b, 5, 10, nn.InitDefault, rng)
	x, err10 := tensor.Uniform(b, rng, 0, 1, 16, 1, 12, 12)
	labels := make([]float32, 16)
	for i := range labels {
		labels[i] = float32(i % 10)
	}
	y, err11 := tensor.FromSlice(b, labels, 16)
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8, err9, err10, err11); err != nil {
		return nil, nil, nil, err
	}
	return nn.NewSequential(c1, bn1, nn.ReLU(), mp, c2, nn.ReLU(), ct, ap, nn.NewGlobalAvgPool(), bn2, rs, nn.NewFlatten(), l), x, y, nil
}
