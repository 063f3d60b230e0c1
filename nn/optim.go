package nn

import (
	"fmt"
	"math"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// Optimizer updates parameters from their gradients. Each update is one
// fused kernel per parameter.
type Optimizer interface {
	// Step applies one update to every parameter.
	Step(params []Param) error
	// LearningRate returns the rate the optimizer is set to: the base
	// rate that a Schedule's factors scale (train.Fit reads it when it
	// starts and sets it back when it ends). It is not named LR because
	// SGD and Adam keep the rate in a field of that name.
	LearningRate() float64
	// SetLR changes the learning rate, for schedules.
	SetLR(lr float64)
}

// state returns the zero-initialised state tensor kept for p in m.
func state(m map[*tensor.Tensor]*tensor.Tensor, p Param) (*tensor.Tensor, error) {
	if s, ok := m[p.Value]; ok {
		return s, nil
	}
	s, err := tensor.Zeros(p.Value.Backend(), p.Value.Shape()...)
	if err != nil {
		return nil, err
	}
	m[p.Value] = s
	return s, nil
}

func checkParam(p Param) error {
	if p.Value.Len() != p.Grad.Len() {
		return fmt.Errorf("optimizer: parameter %q has shape %v but gradient %v", p.Name, p.Value.Shape(), p.Grad.Shape())
	}
	return nil
}

// SGD is stochastic gradient descent with optional momentum, Nesterov
// momentum and L2 weight decay, with PyTorch's update rule.
type SGD struct {
	LR, Momentum, WeightDecay float64
	Nesterov                  bool
	velocity                  map[*tensor.Tensor]*tensor.Tensor
}

// NewSGD returns plain SGD; set Momentum, Nesterov and WeightDecay as needed.
func NewSGD(lr float64) *SGD { return &SGD{LR: lr} }

// SetLR sets the learning rate.
func (o *SGD) SetLR(lr float64) { o.LR = lr }

// LearningRate returns the learning rate.
func (o *SGD) LearningRate() float64 { return o.LR }

// Step updates params.
func (o *SGD) Step(params []Param) error {
	if o.Nesterov && o.Momentum == 0 {
		return fmt.Errorf("SGD: Nesterov momentum needs Momentum > 0")
	}
	if o.velocity == nil {
		o.velocity = map[*tensor.Tensor]*tensor.Tensor{}
	}
	s := backend.SGDStep{LR: float32(o.LR), Momentum: float32(o.Momentum), WeightDecay: float32(o.WeightDecay), Nesterov: o.Nesterov}
	for _, p := range params {
		if err := checkParam(p); err != nil {
			return err
		}
		var v backend.Buffer
		if o.Momentum != 0 {
			vt, err := state(o.velocity, p)
			if err != nil {
				return err
			}
			v = vt.Buffer()
		}
		p.Value.Backend().SGD(p.Value.Len(), s, p.Value.Buffer(), p.Grad.Buffer(), v)
	}
	return nil
}

// Adam is the Adam optimizer (Kingma & Ba), or AdamW (Loshchilov & Hutter)
// when Decoupled is set.
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Decoupled                          bool
	steps                              int
	m, v                               map[*tensor.Tensor]*tensor.Tensor
}

// NewAdam returns Adam with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8).
func NewAdam(lr float64) *Adam { return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// NewAdamW returns AdamW with decoupled weight decay (PyTorch's default is
// 0.01).
func NewAdamW(lr, weightDecay float64) *Adam {
	a := NewAdam(lr)
	a.WeightDecay, a.Decoupled = weightDecay, true
	return a
}

// SetLR sets the learning rate.
func (o *Adam) SetLR(lr float64) { o.LR = lr }

// LearningRate returns the learning rate.
func (o *Adam) LearningRate() float64 { return o.LR }

// Step updates params.
func (o *Adam) Step(params []Param) error {
	if o.m == nil {
		o.m, o.v = map[*tensor.Tensor]*tensor.Tensor{}, map[*tensor.Tensor]*tensor.Tensor{}
	}
	o.steps++
	t := float64(o.steps)
	s := backend.AdamStep{
		LR: float32(o.LR), Beta1: float32(o.Beta1), Beta2: float32(o.Beta2), Eps: float32(o.Eps),
		OneMinusBeta1: float32(1 - o.Beta1), OneMinusBeta2: float32(1 - o.Beta2),
		WeightDecay: float32(o.WeightDecay), Decoupled: o.Decoupled,
		BC1: float32(1 - math.Pow(o.Beta1, t)), BC2: float32(1 - math.Pow(o.Beta2, t)),
	}
	for _, p := range params {
		if err := checkParam(p); err != nil {
			return err
		}
		m, err := state(o.m, p)
		if err != nil {
			return err
		}
		v, err := state(o.v, p)
		if err != nil {
			return err
		}
		p.Value.Backend().Adam(p.Value.Len(), s, p.Value.Buffer(), p.Grad.Buffer(), m.Buffer(), v.Buffer())
	}
	return nil
}

// Stateful is implemented by optimizers whose state can be saved in a
// checkpoint and restored: per-parameter tensors and a step count.
type Stateful interface {
	Optimizer
	// State returns the state tensors for params, named "KIND.PARAM" (e.g.
	// "m.0.weight"), creating zero-filled ones where none exist yet.
	State(params []Param) (map[string]*tensor.Tensor, error)
	// Steps is the number of updates applied; SetSteps restores it.
	Steps() int
	SetSteps(n int)
}

func collect(out map[string]*tensor.Tensor, kind string, m map[*tensor.Tensor]*tensor.Tensor, params []Param) error {
	for _, p := range params {
		s, err := state(m, p)
		if err != nil {
			return err
		}
		out[kind+"."+p.Name] = s
	}
	return nil
}

// State returns the velocities ("velocity.NAME"), or nothing without momentum.
func (o *SGD) State(params []Param) (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	if o.Momentum == 0 {
		return out, nil
	}
	if o.velocity == nil {
		o.velocity = map[*tensor.Tensor]*tensor.Tensor{}
	}
	return out, collect(out, "velocity", o.velocity, params)
}

// Steps returns 0: SGD's update does not depend on the step count.
func (o *SGD) Steps() int { return 0 }

// SetSteps does nothing for SGD.
func (o *SGD) SetSteps(int) {}

// State returns the moments ("m.NAME", "v.NAME").
func (o *Adam) State(params []Param) (map[string]*tensor.Tensor, error) {
	if o.m == nil {
		o.m, o.v = map[*tensor.Tensor]*tensor.Tensor{}, map[*tensor.Tensor]*tensor.Tensor{}
	}
	out := map[string]*tensor.Tensor{}
	if err := collect(out, "m", o.m, params); err != nil {
		return nil, err
	}
	return out, collect(out, "v", o.v, params)
}

// Steps returns the number of updates applied.
func (o *Adam) Steps() int { return o.steps }

// SetSteps restores the update count, which the bias corrections use.
func (o *Adam) SetSteps(n int) { o.steps = n }
