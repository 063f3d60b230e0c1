package nn_test

import (
	"math"
	"testing"

	"github.com/diynn/diynn/nn"
)

// Each schedule's factor against its formula, written out by hand.
func TestScheduleFactors(t *testing.T) {
	ep := func(e int) nn.At { return nn.At{Epoch: e, Step: 10 * e, StepsPerEpoch: 10} }
	st := func(s int) nn.At { return nn.At{Epoch: s / 10, Step: s, StepsPerEpoch: 10} }
	cases := []struct {
		name string
		s    nn.Schedule
		at   nn.At
		want float64
	}{
		{"constant", nn.Constant{}, ep(50), 1},
		{"exponential 0", nn.Exponential{Gamma: 0.95}, ep(0), 1},
		{"exponential 2", nn.Exponential{Gamma: 0.95}, ep(2), 0.95 * 0.95},
		{"exponential ignores steps", nn.Exponential{Gamma: 0.5}, st(19), 0.5},
		{"step before", nn.Step{Every: 10, Gamma: 0.5}, ep(9), 1},
		{"step after", nn.Step{Every: 10, Gamma: 0.5}, ep(25), 0.25},
		{"step without a length", nn.Step{Gamma: 0.5}, ep(25), 1},
		{"cosine start", nn.Cosine{Epochs: 10, MinFactor: 0.1}, ep(0), 1},
		{"cosine middle", nn.Cosine{Epochs: 10, MinFactor: 0.1}, ep(5), 0.55},
		{"cosine end", nn.Cosine{Epochs: 10, MinFactor: 0.1}, ep(10), 0.1},
		{"cosine after the end", nn.Cosine{Epochs: 10, MinFactor: 0.1}, ep(12), 0.1},
		{"cosine per epoch ignores steps", nn.Cosine{Epochs: 10, MinFactor: 0.1}, st(55), 0.55},
		{"cosine per step", nn.Cosine{Epochs: 10, PerStep: true}, nn.At{Epoch: 2, Step: 25, StepsPerEpoch: 10},
			(1 + math.Cos(math.Pi*2.5/10)) / 2},
		// Warm-up over 4 steps: 1/4, 2/4, 3/4, then 1.
		{"warmup step 0", nn.Warmup{Steps: 4}, st(0), 0.25},
		{"warmup step 2", nn.Warmup{Steps: 4}, st(2), 0.75},
		{"warmup step 3", nn.Warmup{Steps: 4}, st(3), 1},
		{"warmup after", nn.Warmup{Steps: 4}, st(300), 1},
		{"warmup of one step", nn.Warmup{Steps: 1}, st(0), 1},
		{"warmup none", nn.Warmup{}, st(0), 1},
		{"warmup then exponential", nn.Warmup{Steps: 20, Then: nn.Exponential{Gamma: 0.5}}, st(14), 0.5 * 15.0 / 20},
		{"warmup then exponential after", nn.Warmup{Steps: 20, Then: nn.Exponential{Gamma: 0.5}}, st(34), 0.125},
	}
	for _, c := range cases {
		if got := c.s.Factor(c.at); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: Factor(%+v) = %v, want %v", c.name, c.at, got, c.want)
		}
	}
}

// The optimizers report the rate they are set to: it is the base that
// schedules scale.
func TestOptimizersReportTheirRate(t *testing.T) {
	for _, o := range []nn.Optimizer{nn.NewSGD(0.25), nn.NewAdam(0.25), nn.NewAdamW(0.25, 0.1)} {
		if o.LearningRate() != 0.25 {
			t.Errorf("%T: LearningRate %v, want 0.25", o, o.LearningRate())
		}
		o.SetLR(0.125)
		if o.LearningRate() != 0.125 {
			t.Errorf("%T: after SetLR(0.125), LearningRate %v", o, o.LearningRate())
		}
	}
}
