package nntest_test

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

// broken wraps a Linear and breaks its Backward in one way.
type broken struct {
	*nn.Linear
	how   string
	saved []float32
}

func (m *broken) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	b := x.Backend()
	switch m.how {
	case "drops the bias gradient":
		m.saved, _ = m.B.Grad.Data()
	case "overwrites instead of accumulating":
		nn.ZeroGrad(m.Params())
	}
	dx, err := m.Linear.Backward(x, gradOut)
	if err != nil {
		return nil, err
	}
	switch m.how {
	case "drops the bias gradient":
		if err := m.B.Grad.Set(m.saved); err != nil {
			return nil, err
		}
	case "input gradient 1% off":
		b.Scale(dx.Len(), 1.01, dx.Buffer())
	case "weight gradient 1% off on one row":
		// Row 0 (the In weights of output 0) accumulated 1% too much.
		g, err := m.W.Grad.Data()
		if err != nil {
			return nil, err
		}
		for i := 0; i < m.In; i++ {
			g[i] *= 1.01
		}
		if err := m.W.Grad.Set(g); err != nil {
			return nil, err
		}
	}
	return dx, b.Err()
}

// unseeded adds noise that nn.Reseed cannot reproduce.
type unseeded struct {
	*nn.Linear
	rng *rand.Rand
	b   backend.Backend
}

func (m *unseeded) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	out, err := m.Linear.Forward(x)
	if err != nil {
		return nil, err
	}
	v, err := out.Data()
	if err != nil {
		return nil, err
	}
	v[0] += float32(m.rng.NormFloat64())
	return out, out.Set(v)
}

// TestCheckFailsOnBrokenBackward shows the gradient checker failing: a
// Linear whose Backward drops the bias gradient, returns an input gradient
// 1% off, gets one row of its weight gradient 1% wrong, or overwrites its
// gradients instead of accumulating them, and one whose Forward draws
// random numbers that nn.Reseed does not reset, are each refused with an
// error that names what is wrong; the unbroken Linear passes.
func TestCheckFailsOnBrokenBackward(t *testing.T) {
	b := cpu.New()
	shape := []int{5, 7}
	newLinear := func(seed uint64) *nn.Linear {
		l, err := nn.NewLinear(b, 7, 4, nn.InitDefault, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if err := nntest.Check(b, newLinear(1), shape, nntest.Options{}); err != nil {
		t.Fatalf("the unbroken Linear fails: %v", err)
	}
	cases := []struct {
		m    nn.Module
		want string
	}{
		{&broken{Linear: newLinear(2), how: "drops the bias gradient"}, "gradient of bias"},
		{&broken{Linear: newLinear(3), how: "input gradient 1% off"}, "input gradient"},
		{&broken{Linear: newLinear(4), how: "weight gradient 1% off on one row"}, "gradient of weight"},
		{&broken{Linear: newLinear(5), how: "overwrites instead of accumulating"}, "after a second Backward (accumulated"},
		{&unseeded{Linear: newLinear(6), rng: rand.New(rand.NewPCG(1, 1)), b: b}, "two Forward passes after nn.Reseed differ"},
	}
	for _, c := range cases {
		name := "random numbers without Reseeder"
		if br, ok := c.m.(*broken); ok {
			name = br.how
		}
		t.Run(name, func(t *testing.T) {
			for seed := uint64(0); seed < 10; seed++ {
				err := nntest.Check(b, c.m, shape, nntest.Options{Seed: seed})
				if err == nil {
					t.Fatalf("seed %d: Check accepted a Linear whose Backward %s", seed, name)
				}
				if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "Linear(7, 4)") {
					t.Fatalf("seed %d: error %q does not name %q and the module", seed, err, c.want)
				}
			}
		})
	}
}

// CheckModule is what a user calls on a layer of their own.
func TestCheckModuleOnUserModule(t *testing.T) {
	b := cpu.New()
	l, err := nn.NewLinear(b, 12, 3, nn.InitKaiming, rand.New(rand.NewPCG(9, 9)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := nn.NewDropout(0.3, 1)
	if err != nil {
		t.Fatal(err)
	}
	nntest.CheckModule(t, b, nn.NewSequential(nn.NewFlatten(), d, l, nn.ReLU()), 4, 3, 2, 2)
}
