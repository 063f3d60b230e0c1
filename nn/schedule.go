package nn

import "math"

// A Schedule scales the optimizer's learning rate as training goes on. It
// returns a factor, not a rate: the rate is the optimizer's own (its
// LearningRate when training starts) times the factor, so that the rate is
// given once. train.Fit sets the optimizer's rate to base·Factor(at)
// before every step and restores base when it returns.
//
// A schedule is per epoch (Constant, Exponential, Step, Cosine: the factor
// changes when an epoch starts and looks only at At.Epoch) or per step
// (Warmup, and Cosine with PerStep: the factor changes every step).
type Schedule interface {
	Factor(at At) float64
}

// At is the point of training that a Schedule is asked about.
type At struct {
	Epoch int // the epoch, counted from 0
	// Step counts the steps of the whole run from 0:
	// Epoch·StepsPerEpoch plus the step within the epoch.
	Step          int
	StepsPerEpoch int
}

// Constant keeps the optimizer's rate: its factor is always 1.
type Constant struct{}

// Factor returns 1.
func (Constant) Factor(At) float64 { return 1 }

// Exponential decays the rate by Gamma every epoch: factor Gamma^epoch.
type Exponential struct{ Gamma float64 }

// Factor returns Gamma^epoch.
func (e Exponential) Factor(at At) float64 { return math.Pow(e.Gamma, float64(at.Epoch)) }

// Step multiplies the rate by Gamma every Every epochs: factor
// Gamma^⌊epoch/Every⌋ (1 throughout when Every ≤ 0).
type Step struct {
	Every int
	Gamma float64
}

// Factor returns Gamma^⌊epoch/Every⌋.
func (s Step) Factor(at At) float64 {
	if s.Every <= 0 {
		return 1
	}
	return math.Pow(s.Gamma, float64(at.Epoch/s.Every))
}

// Cosine anneals the factor from 1 to MinFactor over Epochs epochs (SGDR
// without restarts), then stays at MinFactor: MinFactor +
// (1-MinFactor)·(1+cos(π·t/Epochs))/2. Per epoch, t is the epoch; with
// PerStep, t is the fractional epoch Step/StepsPerEpoch, so the rate falls
// smoothly within epochs too.
type Cosine struct {
	Epochs    int
	MinFactor float64
	PerStep   bool
}

// Factor returns the annealed factor at at.
func (c Cosine) Factor(at At) float64 {
	t := float64(at.Epoch)
	if c.PerStep && at.StepsPerEpoch > 0 {
		t = float64(at.Step) / float64(at.StepsPerEpoch)
	}
	if c.Epochs <= 0 || t >= float64(c.Epochs) {
		return c.MinFactor
	}
	return c.MinFactor + (1-c.MinFactor)*(1+math.Cos(math.Pi*t/float64(c.Epochs)))/2
}

// Warmup ramps the rate up linearly over the first Steps steps of the run,
// then follows Then (nil: Constant): the factor is min(1, (step+1)/Steps)
// times Then's, so the first step trains at 1/Steps of the rate and step
// Steps (counted from 1) at the whole of it. Warm-up keeps the large,
// noisy updates of a fresh network (and Adam's first, poorly estimated
// moments) from throwing it far from where it started.
type Warmup struct {
	Steps int
	Then  Schedule
}

// Factor returns the warm-up ramp times Then's factor.
func (w Warmup) Factor(at At) float64 {
	f := 1.0
	if w.Then != nil {
		f = w.Then.Factor(at)
	}
	if at.Step+1 < w.Steps {
		f *= float64(at.Step+1) / float64(w.Steps)
	}
	return f
}
