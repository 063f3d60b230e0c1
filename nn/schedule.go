package nn

import "math"

// Schedule gives the learning rate for an epoch, counted from 0.
type Schedule interface {
	LR(epoch int) float64
}

// Constant keeps the learning rate fixed.
type Constant float64

// LR returns the constant.
func (c Constant) LR(int) float64 { return float64(c) }

// Exponential decays the rate as Base·Gamma^epoch.
type Exponential struct{ Base, Gamma float64 }

// LR returns Base·Gamma^epoch.
func (e Exponential) LR(epoch int) float64 { return e.Base * math.Pow(e.Gamma, float64(epoch)) }

// Step multiplies the rate by Gamma every Every epochs.
type Step struct {
	Base  float64
	Every int
	Gamma float64
}

// LR returns Base·Gamma^⌊epoch/Every⌋.
func (s Step) LR(epoch int) float64 {
	if s.Every <= 0 {
		return s.Base
	}
	return s.Base * math.Pow(s.Gamma, float64(epoch/s.Every))
}

// Cosine anneals from Base to Min over Epochs epochs (SGDR without
// restarts), then stays at Min.
type Cosine struct {
	Base, Min float64
	Epochs    int
}

// LR returns Min + (Base-Min)·(1+cos(π·epoch/Epochs))/2.
func (c Cosine) LR(epoch int) float64 {
	if c.Epochs <= 0 || epoch >= c.Epochs {
		return c.Min
	}
	return c.Min + (c.Base-c.Min)*(1+math.Cos(math.Pi*float64(epoch)/float64(c.Epochs)))/2
}
