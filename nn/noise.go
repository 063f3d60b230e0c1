package nn

import (
	"fmt"
	"math"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// GaussianNoise adds N(0, Sigma²) noise to every value while training,
// y = x + Sigma·z, as a regulariser or to train a denoising autoencoder. In
// evaluation mode, and for Sigma = 0, it is the identity. Its gradient is
// gradOut in both modes: the noise does not depend on x.
//
// The noise comes from backend.Random's normal values, in a stream that
// each training Forward continues and Reseed restarts, as Dropout's.
type GaussianNoise struct {
	// Sigma is the noise's standard deviation, finite and not negative.
	Sigma float64

	seed, key, offset uint64
	training          bool
	state             passState
	out               *tensor.Tensor
}

// NewGaussianNoise returns a noise layer, in training mode, of standard
// deviation sigma, drawing from a stream seeded by seed.
func NewGaussianNoise(sigma float64, seed uint64) (*GaussianNoise, error) {
	if err := checkNoise(sigma); err != nil {
		return nil, err
	}
	return &GaussianNoise{Sigma: sigma, seed: seed, key: seed, training: true}, nil
}

func checkNoise(sigma float64) error {
	if !(sigma >= 0) || math.IsInf(sigma, 1) {
		return fmt.Errorf("nn: GaussianNoise(%v): the standard deviation must be finite and not negative", sigma)
	}
	return nil
}

func (g *GaussianNoise) String() string { return "GaussianNoise(" + formatFloat(g.Sigma) + ")" }

// Spec returns the layer in the spec language: gaussiannoise(SIGMA).
func (g *GaussianNoise) Spec() string { return "gaussiannoise(" + formatFloat(g.Sigma) + ")" }

// SetTraining turns the noise on (training) or off (evaluation).
func (g *GaussianNoise) SetTraining(training bool) { g.training = training }

// Reseed restarts the noise stream from the layer's seed mixed with seed.
func (g *GaussianNoise) Reseed(seed uint64) { g.key, g.offset = MixSeed(g.seed, seed), 0 }

// OutputShape is the input shape.
func (g *GaussianNoise) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if err := checkShape(g, in); err != nil {
		return nil, err
	}
	return append(tensor.Shape(nil), in...), nil
}

// Forward returns x + Sigma·z for fresh normal z in training mode, x
// otherwise.
func (g *GaussianNoise) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkNoise(g.Sigma); err != nil {
		return nil, err
	}
	if !g.training || g.Sigma == 0 {
		g.state = identity
		return x, nil
	}
	b, n := x.Backend(), x.Len()
	if err := tensor.Ensure(&g.out, b, x.Shape()...); err != nil {
		return nil, err
	}
	// The noise is drawn straight into the output, then x is added: one
	// buffer, no copy.
	b.Random(backend.Normal, n, g.key, g.offset, 0, float32(g.Sigma), g.out.Buffer())
	b.Axpy(n, 1, x.Buffer(), g.out.Buffer())
	g.offset += streamAdvance(n)
	g.state = applied
	return g.out, nil
}

// Backward returns gradOut.
func (g *GaussianNoise) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	switch g.state {
	case notRun:
		return nil, fmt.Errorf("%v: Backward called before Forward", g)
	case identity:
		if err := tensor.SameShape("Backward: input and gradient", x, gradOut); err != nil {
			return nil, fmt.Errorf("%v: %w", g, err)
		}
		return gradOut, nil
	}
	if err := checkGradOut(g, g.out, gradOut); err != nil {
		return nil, err
	}
	return gradOut, nil
}

// Params returns nothing.
func (g *GaussianNoise) Params() []Param { return nil }
