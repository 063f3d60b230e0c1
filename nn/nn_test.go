package nn_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/nn/nntest"
	"github.com/diynn/diynn/tensor"
)

func TestShapeErrorsNameBothShapes(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(1, 1))
	lin, err := nn.NewLinear(b, 4, 3, nn.InitDefault, rng)
	if err != nil {
		t.Fatal(err)
	}
	x5, _ := tensor.Zeros(b, 2, 5)
	x4, _ := tensor.Zeros(b, 2, 4)
	p23, _ := tensor.Zeros(b, 2, 3)
	p32, _ := tensor.Zeros(b, 3, 2)
	labels3, _ := tensor.Zeros(b, 3)
	seq := nn.NewSequential(lin, nn.ReLU())
	cases := []struct {
		name  string
		run   func() error
		wants []string
	}{
		{"linear input", func() error { _, err := lin.Forward(x5); return err }, []string{"(2×5)", "4"}},
		{"sequential input", func() error { _, err := seq.Forward(x5); return err }, []string{"module 0", "(2×5)"}},
		{"mse shapes", func() error { _, err := nn.MSELoss().Forward(p23, p32); return err }, []string{"(2×3)", "(3×2)"}},
		{"cross-entropy labels", func() error { _, err := nn.NewCrossEntropyLoss().Forward(p23, labels3); return err }, []string{"(3)", "(2×3)"}},
		{"backward gradient", func() error {
			if _, err := lin.Forward(x4); err != nil {
				return err
			}
			_, err := lin.Backward(x4, p32)
			return err
		}, []string{"(2×3)", "(3×2)"}},
		{"bad size", func() error { _, err := nn.NewLinear(b, 0, 3, nn.InitDefault, rng); return err }, []string{"Linear(0, 3)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// fmnistNet builds the 784-176-42-10 classifier of the benchmarks on cpu.
func fmnistNet(t testing.TB, rng *rand.Rand) (*nn.Sequential, *tensor.Tensor, *tensor.Tensor) {
	net, x, y, err := nntest.FMNISTNet(cpu.New(), rng)
	if err != nil {
		t.Fatal(err)
	}
	return net, x, y
}

// A training step allocates neither buffers nor Go memory once the first
// step has sized everything: for the plain classifier, and for the same
// network with GaussianNoise and two Dropout layers, reseeded before every
// step as train.Fit does.
func TestTrainStepAllocatesNothing(t *testing.T) {
	type netCase struct {
		name string
		opt  nn.Optimizer
		net  func(backend.Backend, *rand.Rand) (*nn.Sequential, *tensor.Tensor, *tensor.Tensor, error)
	}
	cases := []netCase{
		{"classifier", &nn.SGD{LR: 0.05, Momentum: 0.9}, nntest.FMNISTNet},
		{"classifier", nn.NewAdam(1e-3), nntest.FMNISTNet},
		{"with dropout and noise", &nn.SGD{LR: 0.05, Momentum: 0.9}, nntest.RegularisedNet},
		{"with dropout and noise", nn.NewAdam(1e-3), nntest.RegularisedNet},
		{"cnn", &nn.SGD{LR: 0.05, Momentum: 0.9}, nntest.CNNNet},
		{"cnn", nn.NewAdam(1e-3), nntest.CNNNet},
	}
	for _, c := range cases {
		opt := c.opt
		net, x, y, err := c.net(cpu.New(), rand.New(rand.NewPCG(3, 3)))
		if err != nil {
			t.Fatal(err)
		}
		b := x.Backend()
		loss := nn.NewCrossEntropyLoss()
		seed := uint64(0)
		step := func() {
			seed++
			nn.Reseed(net, seed)
			if _, err := nn.TrainStep(net, loss, opt, x, y); err != nil {
				t.Fatal(err)
			}
		}
		step() // the first step allocates activations and optimizer state
		before := b.MemStats()
		heap := testing.AllocsPerRun(20, step)
		after := b.MemStats()
		if after.Allocs != before.Allocs {
			t.Errorf("%s, %T: %d buffer allocations in 21 steady-state steps, want 0", c.name, opt, after.Allocs-before.Allocs)
		}
		if heap != 0 {
			t.Errorf("%s, %T: %.0f Go heap allocations per steady-state step, want 0", c.name, opt, heap)
		}
	}
}

func TestTrainingLearnsXOR(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(5, 5))
	const n = 256
	xs, ys := make([]float32, 2*n), make([]float32, n)
	for i := 0; i < n; i++ {
		a, c := rng.Float64()*2-1, rng.Float64()*2-1
		xs[2*i], xs[2*i+1] = float32(a), float32(c)
		if a*c > 0 {
			ys[i] = 1
		}
	}
	x, _ := tensor.FromSlice(b, xs, n, 2)
	y, _ := tensor.FromSlice(b, ys, n)
	l1, _ := nn.NewLinear(b, 2, 16, nn.InitDefault, rng)
	l2, _ := nn.NewLinear(b, 16, 2, nn.InitDefault, rng)
	net := nn.NewSequential(l1, nn.Tanh(), l2)
	opt, loss := nn.NewAdam(0.05), nn.NewCrossEntropyLoss()
	var first, last float32
	for i := 0; i < 300; i++ {
		l, err := nn.TrainStep(net, loss, opt, x, y)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := l.Data()
		if i == 0 {
			first = v[0]
		}
		last = v[0]
	}
	if !(last < 0.2 && last < first/3) {
		t.Errorf("XOR loss went from %v to %v, want under 0.2", first, last)
	}
}

// A tied decoder shares the encoder's weight matrix: an update driven only
// by the decoder's gradient moves the encoder's weights.
func TestTiedDecoderUpdatesEncoderWeights(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(7, 7))
	enc, _ := nn.NewLinear(b, 5, 3, nn.InitDefault, rng)
	dec, _ := nn.NewTiedLinear(enc, rng)
	before, _ := enc.W.Value.Data()
	h, _ := tensor.Uniform(b, rng, -1, 1, 4, 3)
	target, _ := tensor.Uniform(b, rng, 0, 1, 4, 5)
	out, err := dec.Forward(h)
	if err != nil {
		t.Fatal(err)
	}
	loss := nn.MSELoss()
	if _, err := loss.Forward(out, target); err != nil {
		t.Fatal(err)
	}
	nn.ZeroGrad(enc.Params())
	if _, err := dec.Backward(h, loss.Backward()); err != nil {
		t.Fatal(err)
	}
	if err := nn.NewSGD(0.5).Step(enc.Params()); err != nil { // the encoder's own parameters only
		t.Fatal(err)
	}
	after, _ := enc.W.Value.Data()
	moved := 0
	for i := range before {
		if before[i] != after[i] {
			moved++
		}
	}
	if moved != len(before) {
		t.Errorf("%d of %d encoder weights moved after a decoder-only update", moved, len(before))
	}
	if len(dec.Params()) != 1 {
		t.Errorf("the decoder owns %d parameters, want only its bias", len(dec.Params()))
	}
}
