package nntest_test

import (
	"math"
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

// secondRow is a Linear whose input gradient is 5% off on the second
// sample of the batch only: a mistake in the batch loop.
type secondRow struct{ *nn.Linear }

func (m *secondRow) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	dx, err := m.Linear.Backward(x, gradOut)
	if err != nil {
		return nil, err
	}
	v, err := dx.Data()
	if err != nil {
		return nil, err
	}
	for i := m.In; i < 2*m.In; i++ {
		v[i] *= 1.05
	}
	return dx, dx.Set(v)
}

// stale is a Linear whose Forward ignores its input after the first call
// (it returns the first output again) while Backward stays the Linear's.
type stale struct {
	*nn.Linear
	first *tensor.Tensor
}

func (m *stale) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if m.first != nil {
		return m.first, nil
	}
	y, err := m.Linear.Forward(x)
	m.first = y
	return y, err
}

// shapeLiar is a Linear whose OutputShape says one value more than its
// Forward gives.
type shapeLiar struct{ *nn.Linear }

func (m *shapeLiar) OutputShape(tensor.Shape) (tensor.Shape, error) {
	return tensor.Shape{m.Out + 1}, nil
}

// TestCheckFailsOnBrokenBackward shows the gradient checker failing: a
// Linear whose Backward drops the bias gradient, returns an input gradient
// 1% off, gets one row of its weight gradient 1% wrong, or overwrites its
// gradients instead of accumulating them, or gets the input gradient of the
// second sample 5% wrong; one whose Forward draws random numbers that
// nn.Reseed does not reset, one whose Forward stops reading its input, and
// one whose OutputShape disagrees with its Forward, are each refused with
// an error that names what is wrong; the unbroken Linear passes.
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
		name string
		m    nn.Module
		want string
	}{
		{"drops the bias gradient", &broken{Linear: newLinear(2), how: "drops the bias gradient"}, "gradient of bias"},
		{"input gradient 1% off", &broken{Linear: newLinear(3), how: "input gradient 1% off"}, "input gradient"},
		{"weight gradient 1% off on one row", &broken{Linear: newLinear(4), how: "weight gradient 1% off on one row"}, "gradient of weight"},
		{"overwrites instead of accumulating", &broken{Linear: newLinear(5), how: "overwrites instead of accumulating"}, "after a second Backward (accumulated"},
		{"random numbers without Reseeder", &unseeded{Linear: newLinear(6), rng: rand.New(rand.NewPCG(1, 1)), b: b}, "two Forward passes after nn.Reseed differ"},
		{"input gradient 5% off on the second sample only", &secondRow{newLinear(7)}, "input gradient"},
		{"Forward ignores its input after the first call", &stale{Linear: newLinear(8)}, "central difference 0"},
		{"OutputShape disagrees with Forward", &shapeLiar{newLinear(9)}, "OutputShape((7)) = (5), but Forward returned (4)"},
	}
	for _, c := range cases {
		name := c.name
		t.Run(name, func(t *testing.T) {
			if s, ok := c.m.(*stale); ok {
				s.first = nil
			}
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

// Options that would make the check meaningless are refused, not used.
func TestCheckRefusesBadOptions(t *testing.T) {
	b := cpu.New()
	l, err := nn.NewLinear(b, 3, 2, nn.InitDefault, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opt   nntest.Options
		shape []int
		want  string
	}{
		{nntest.Options{H: -1e-3}, []int{2, 3}, "Options.H = -0.001"},
		{nntest.Options{H: math.NaN()}, []int{2, 3}, "Options.H = NaN"},
		{nntest.Options{Rel: -1}, []int{2, 3}, "tolerances cannot be negative"},
		{nntest.Options{Lo: 1}, []int{2, 3}, "Lo = 1, Hi = 0"},
		{nntest.Options{Lo: 2, Hi: 2}, []int{2, 3}, "Lo = 2, Hi = 2"},
		{nntest.Options{}, nil, "needs a batch dimension"},
	} {
		err := nntest.Check(b, l, c.shape, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check with %+v on %v: %v, want an error containing %q", c.opt, c.shape, err, c.want)
		}
	}
}
