package nn_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	diynndata "github.com/diynn/diynn/data"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// countingCPU is the cpu backend, counting the fused operations it runs.
type countingCPU struct {
	*cpu.Backend
	forward, backward int
}

func (c *countingCPU) GemmBiasAct(transA, transB bool, m, n, k int, alpha float32, a, b backend.Buffer, beta float32, cb backend.Buffer, bias backend.Buffer, f backend.Activation, fAlpha float32) {
	c.forward++
	c.Backend.GemmBiasAct(transA, transB, m, n, k, alpha, a, b, beta, cb, bias, f, fAlpha)
}

func (c *countingCPU) ActBackwardSumRows(f backend.Activation, fAlpha float32, rows, cols int, y, dy, dx backend.Buffer, beta float32, dbias backend.Buffer) {
	c.backward++
	c.Backend.ActBackwardSumRows(f, fAlpha, rows, cols, y, dy, dx, beta, dbias)
}

// plainBackend hides every optional capability of the backend it wraps:
// a backend without FusedLinear.
type plainBackend struct{ backend.Backend }

// runNet runs a forward and a backward pass (with or without the input
// gradient) and returns the output, the input gradient (nil without) and
// every parameter gradient, read back.
func runNet(t *testing.T, s *nn.Sequential, x *tensor.Tensor, r []float32, inputGrad bool) (out, dx []float32, grads [][]float32) {
	t.Helper()
	nn.ZeroGrad(s.Params())
	y, err := s.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	g, err := tensor.FromSlice(x.Backend(), r[:y.Len()], y.Shape()...)
	if err != nil {
		t.Fatal(err)
	}
	read := func(t2 *tensor.Tensor) []float32 {
		v := make([]float32, t2.Len())
		if err := x.Backend().Download(v, t2.Buffer()); err != nil {
			t.Fatal(err)
		}
		return v
	}
	out = read(y)
	if inputGrad {
		d, err := s.Backward(x, g)
		if err != nil {
			t.Fatal(err)
		}
		dx = read(d)
	} else if err := s.AccGradParameters(x, g); err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Params() {
		grads = append(grads, read(p.Grad))
	}
	return out, dx, grads
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d] = %v fused, %v unfused", what, i, got[i], want[i])
		}
	}
}

// On cpu, a Sequential of Linear + activation pairs gives bit for bit the
// output and gradients of the unfused modules (Unfused, and a backend
// without FusedLinear), for every activation and awkward sizes, starting
// with a fused pair (the AccGradParameters path skips its input gradient)
// or not; and it does run fused: the counting backend sees one fused
// forward and backward per pair, and none for a LeakyReLU with a negative
// slope, which must stay unfused (its derivative cannot be read from y).
func TestSequentialFusesLinearActivation(t *testing.T) {
	acts := []func() *nn.Activation{nn.Tanh, nn.Sigmoid, nn.ReLU,
		func() *nn.Activation { return nn.LeakyReLU(0.1) }, func() *nn.Activation { return nn.LeakyReLU(0) },
		func() *nn.Activation { return nn.LeakyReLU(-0.2) }}
	sizes := [][3]int{{1, 7, 33}, {7, 33, 1}, {33, 257, 7}, {257, 1, 7}}
	for ai, act := range acts {
		for _, sz := range sizes {
			rows, in, hidden := sz[0], sz[1], sz[2]
			// The same network and input (same seeds) on any backend.
			build := func(b backend.Backend) (*nn.Sequential, *tensor.Tensor, []float32, *nn.Activation) {
				rng := rand.New(rand.NewPCG(uint64(ai), uint64(rows)))
				l1, err1 := nn.NewLinear(b, in, hidden, nn.InitDefault, rng)
				l2, err2 := nn.NewLinear(b, hidden, 5, nn.InitDefault, rng)
				x, err3 := tensor.Uniform(b, rng, -2, 2, rows, in)
				if err := errors.Join(err1, err2, err3); err != nil {
					t.Fatal(err)
				}
				r := make([]float32, rows*5)
				for i := range r {
					r[i] = float32(rng.Float64()*2 - 1)
				}
				a := act()
				// Pairs at the start and in the middle; an unfusable
				// LogSoftmax at the end.
				return nn.NewSequential(l1, a, l2, act(), nn.NewLogSoftmax()), x, r, a
			}
			cb := &countingCPU{Backend: cpu.New()}
			s, x, r, a := build(cb)
			plain, xp, _, _ := build(plainBackend{cpu.New()})
			wantFused := a.F != backend.LeakyReLU || a.Alpha >= 0
			for _, inputGrad := range []bool{true, false} {
				name := a.String()
				cb.forward, cb.backward = 0, 0
				out, dx, grads := runNet(t, s, x, r, inputGrad)
				if want := map[bool]int{true: 2, false: 0}[wantFused]; cb.forward != want || cb.backward != want {
					t.Fatalf("%s: %d fused forwards and %d backwards, want %d", name, cb.forward, cb.backward, want)
				}
				s.Unfused = true
				cb.forward = 0
				uOut, uDx, uGrads := runNet(t, s, x, r, inputGrad)
				s.Unfused = false
				if cb.forward != 0 {
					t.Fatalf("%s: Unfused ran %d fused forwards", name, cb.forward)
				}
				sameBits(t, name+" output", out, uOut)
				sameBits(t, name+" input gradient", dx, uDx)
				for i := range grads {
					sameBits(t, name+" gradient of "+s.Params()[i].Name, grads[i], uGrads[i])
				}
				// The same network on a backend without the capability.
				pOut, pDx, pGrads := runNet(t, plain, xp, r, inputGrad)
				sameBits(t, name+" output without FusedLinear", out, pOut)
				sameBits(t, name+" input gradient without FusedLinear", dx, pDx)
				for i := range pGrads {
					sameBits(t, name+" gradient without FusedLinear", grads[i], pGrads[i])
				}
			}
		}
	}
}

func mustRead(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	v := make([]float32, x.Len())
	if err := x.Backend().Download(v, x.Buffer()); err != nil {
		t.Fatal(err)
	}
	return v
}

// The fmnist-relu network (linear(784,176) tanh linear(176,42) relu
// linear(42,10)) trained with Adam for a few steps gives the same losses,
// within 1e-4 relative, fused and unfused, on Fashion-MNIST's test images
// when DIYNN_DATA has them (random images otherwise).
func TestFusedTrainingLosses(t *testing.T) {
	const batch, steps = 128, 12
	var xs, ys []float32
	if test, err := loadFMNISTTest(); err == nil {
		xs, ys = test.X[:batch*steps*784], test.Y[:batch*steps]
	} else {
		t.Logf("Fashion-MNIST not found (%v): random images", err)
		rng := rand.New(rand.NewPCG(5, 5))
		xs, ys = make([]float32, batch*steps*784), make([]float32, batch*steps)
		for i := range xs {
			xs[i] = float32(rng.Float64())
		}
		for i := range ys {
			ys[i] = float32(rng.IntN(10))
		}
	}
	train := func(unfused bool) []float64 {
		b := cpu.New()
		rng := rand.New(rand.NewPCG(1, 1))
		l1, err1 := nn.NewLinear(b, 784, 176, nn.InitDefault, rng)
		l2, err2 := nn.NewLinear(b, 176, 42, nn.InitDefault, rng)
		l3, err3 := nn.NewLinear(b, 42, 10, nn.InitDefault, rng)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		net := nn.NewSequential(l1, nn.Tanh(), l2, nn.ReLU(), l3)
		net.Unfused = unfused
		opt, loss := nn.NewAdam(1e-3), nn.NewCrossEntropyLoss()
		var losses []float64
		for s := 0; s < steps; s++ {
			x, err1 := tensor.FromSlice(b, xs[s*batch*784:(s+1)*batch*784], batch, 784)
			y, err2 := tensor.FromSlice(b, ys[s*batch:(s+1)*batch], batch)
			if err := errors.Join(err1, err2); err != nil {
				t.Fatal(err)
			}
			l, err := nn.TrainStep(net, loss, opt, x, y)
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, float64(mustRead(t, l)[0]))
		}
		return losses
	}
	fused, unfused := train(false), train(true)
	worst := 0.0
	for i := range fused {
		rel := math.Abs(fused[i]-unfused[i]) / math.Abs(unfused[i])
		if !(rel <= 1e-4) {
			t.Errorf("step %d: loss %.7f fused, %.7f unfused (relative %.2g)", i, fused[i], unfused[i], rel)
		}
		worst = max(worst, rel)
	}
	if fused[len(fused)-1] >= fused[0] {
		t.Errorf("the loss did not fall: %v", fused)
	}
	t.Logf("losses %.5f … %.5f; largest relative difference fused/unfused %.2g", fused[0], fused[len(fused)-1], worst)
}

func loadFMNISTTest() (*diynndata.Dataset, error) {
	if os.Getenv("DIYNN_DATA") == "" {
		return nil, errors.New("DIYNN_DATA is not set")
	}
	_, test, err := diynndata.Load("fashion-mnist", diynndata.Options{NoDownload: true})
	return test, err
}

// BenchmarkTrainStepFusion times BenchmarkTrainStep's step with the fused
// Linear + activation steps and without (Unfused), on the CPU backend.
func BenchmarkTrainStepFusion(b *testing.B) {
	for _, unfused := range []bool{false, true} {
		b.Run(map[bool]string{false: "fused", true: "unfused"}[unfused], func(b *testing.B) {
			net, x, y := fmnistNet(b, rand.New(rand.NewPCG(3, 3)))
			net.Unfused = unfused
			opt, loss := &nn.SGD{LR: 0.05, Momentum: 0.9}, nn.NewCrossEntropyLoss()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := nn.TrainStep(net, loss, opt, x, y); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A tied autoencoder (Linear, LeakyReLU, TiedLinear, Sigmoid: the ae
// presets' shape) runs both pairs fused, with the unfused results bit for
// bit, the encoder's weight gradient holding both terms.
func TestTiedAutoencoderFuses(t *testing.T) {
	cb := &countingCPU{Backend: cpu.New()}
	rng := rand.New(rand.NewPCG(4, 4))
	enc, err1 := nn.NewLinear(cb, 33, 7, nn.InitDefault, rng)
	x, err2 := tensor.Uniform(cb, rng, 0, 1, 9, 33)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	dec, err := nn.NewTiedLinear(enc, rng)
	if err != nil {
		t.Fatal(err)
	}
	s := nn.NewSequential(enc, nn.LeakyReLU(0.01), dec, nn.Sigmoid())
	r := make([]float32, 9*33)
	for i := range r {
		r[i] = float32(rng.Float64()*2 - 1)
	}
	for _, inputGrad := range []bool{true, false} {
		cb.forward, cb.backward = 0, 0
		out, dx, grads := runNet(t, s, x, r, inputGrad)
		if cb.forward != 2 || cb.backward != 2 {
			t.Fatalf("%d fused forwards and %d backwards, want 2", cb.forward, cb.backward)
		}
		s.Unfused = true
		uOut, uDx, uGrads := runNet(t, s, x, r, inputGrad)
		s.Unfused = false
		sameBits(t, "output", out, uOut)
		sameBits(t, "input gradient", dx, uDx)
		for i := range grads {
			sameBits(t, "gradient of "+s.Params()[i].Name, grads[i], uGrads[i])
		}
	}
}
