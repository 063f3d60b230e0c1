package nn

import (
	"fmt"
	"strconv"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// Dropout zeroes each input value with probability P while training, and
// scales the values it keeps by 1/(1-P) (inverted dropout, as PyTorch's), so
// that the expected output equals the input and evaluation needs no
// rescaling. In evaluation mode, and for P = 0, it is the identity: Forward
// returns x itself and Backward returns gradOut.
//
// The mask is drawn on the device by backend.Random (Bernoulli values
// 1/(1-P) with probability 1-P, else 0) and multiplied in with backend.Mul;
// Backward multiplies gradOut by the same mask. Each training Forward
// continues the module's random stream (see the package documentation), so
// successive batches see fresh masks, and Reseed restarts it.
type Dropout struct {
	// P is the probability of dropping a value, in [0, 1).
	P float64

	seed, key, offset uint64
	training          bool
	state             passState
	mask, out, dx     *tensor.Tensor
}

// passState records what the latest Forward did, so that Backward does the
// same even if the mode changed in between.
type passState int

const (
	notRun   passState = iota
	identity           // the latest Forward returned its input
	applied            // the latest Forward drew and applied random values
)

// NewDropout returns a Dropout layer, in training mode, that drops values
// with probability p, drawing its masks from a stream seeded by seed.
func NewDropout(p float64, seed uint64) (*Dropout, error) {
	if err := checkDropout(p); err != nil {
		return nil, err
	}
	return &Dropout{P: p, seed: seed, key: seed, training: true}, nil
}

func checkDropout(p float64) error {
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("nn: Dropout(%v): the probability of dropping must be in [0, 1)", p)
	}
	return nil
}

func (d *Dropout) String() string { return "Dropout(" + formatFloat(d.P) + ")" }

// Spec returns the layer in the spec language: dropout(P).
func (d *Dropout) Spec() string { return "dropout(" + formatFloat(d.P) + ")" }

// formatFloat writes v as the shortest decimal that reads back as v.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// SetTraining turns dropping on (training) or off (evaluation).
func (d *Dropout) SetTraining(training bool) { d.training = training }

// Reseed restarts the mask stream from the layer's seed mixed with seed.
func (d *Dropout) Reseed(seed uint64) { d.key, d.offset = MixSeed(d.seed, seed), 0 }

// OutputShape is the input shape.
func (d *Dropout) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if err := checkShape(d, in); err != nil {
		return nil, err
	}
	return append(tensor.Shape(nil), in...), nil
}

// streamAdvance is how far a draw of n values moves a stream's offset: n
// rounded up to whole Philox blocks of 4 values, so that every draw starts
// at a block boundary and a normal pair never straddles two draws.
func streamAdvance(n int) uint64 { return uint64(n+3) &^ 3 }

// Forward returns x ⊙ mask for a fresh mask in training mode, x otherwise.
func (d *Dropout) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkDropout(d.P); err != nil {
		return nil, err
	}
	if !d.training || d.P == 0 {
		d.state = identity
		return x, nil
	}
	b, n := x.Backend(), x.Len()
	if err := tensor.Ensure(&d.mask, b, x.Shape()...); err != nil {
		return nil, err
	}
	if err := tensor.Ensure(&d.out, b, x.Shape()...); err != nil {
		return nil, err
	}
	keep := 1 - d.P
	b.Random(backend.Bernoulli, n, d.key, d.offset, float32(keep), float32(1/keep), d.mask.Buffer())
	b.Mul(n, x.Buffer(), d.mask.Buffer(), d.out.Buffer())
	d.offset += streamAdvance(n)
	d.state = applied
	return d.out, nil
}

// Backward returns gradOut ⊙ mask, with the mask of the latest Forward, or
// gradOut when that Forward was the identity.
func (d *Dropout) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	switch d.state {
	case notRun:
		return nil, fmt.Errorf("%v: Backward called before Forward", d)
	case identity:
		if err := tensor.SameShape("Backward: input and gradient", x, gradOut); err != nil {
			return nil, fmt.Errorf("%v: %w", d, err)
		}
		return gradOut, nil
	}
	if err := checkGradOut(d, d.out, gradOut); err != nil {
		return nil, err
	}
	b := gradOut.Backend()
	if err := tensor.Ensure(&d.dx, b, gradOut.Shape()...); err != nil {
		return nil, err
	}
	b.Mul(gradOut.Len(), gradOut.Buffer(), d.mask.Buffer(), d.dx.Buffer())
	return d.dx, nil
}

// Params returns nothing.
func (d *Dropout) Params() []Param { return nil }
