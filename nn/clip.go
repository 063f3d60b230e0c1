package nn

import (
	"errors"
	"fmt"
	"math"

	"github.com/diynn/diynn/tensor"
)

// GradClipper clips gradients by their global norm, as PyTorch's
// clip_grad_norm_: when the Euclidean norm of all gradients together
// exceeds MaxNorm, every gradient is scaled by MaxNorm/norm, which keeps
// the update's direction and bounds its length.
//
// Everything stays on the device: the sum of squares accumulates in a
// one-value tensor (b.SumSquares over each gradient), b.ClipFactor turns it
// into the scale, and b.ScaleBy applies it, so a step reads nothing back.
// The two one-value tensors are allocated on the first Clip and reused, so
// a training step that clips allocates nothing. Free releases them.
type GradClipper struct {
	MaxNorm float32
	sum     *tensor.Tensor // Σ grad², then kept for SumSquares
	factor  *tensor.Tensor // min(1, MaxNorm/(norm+1e-6))
}

// Clip scales the gradients of params so that their global norm is at most
// MaxNorm.
func (c *GradClipper) Clip(params []Param) error {
	if !(c.MaxNorm > 0) || math.IsInf(float64(c.MaxNorm), 0) {
		return fmt.Errorf("clipping gradients: the maximum norm %v must be positive and finite", c.MaxNorm)
	}
	if len(params) == 0 {
		return nil
	}
	b := params[0].Grad.Backend()
	if err := errors.Join(tensor.Ensure(&c.sum, b, 1), tensor.Ensure(&c.factor, b, 1)); err != nil {
		return fmt.Errorf("clipping gradients: %w", err)
	}
	for i, p := range params {
		if p.Grad.Backend() != b {
			return fmt.Errorf("clipping gradients: %w (%s)", tensor.ErrBackend, p.Name)
		}
		beta := float32(1)
		if i == 0 {
			beta = 0 // the first sum overwrites the previous step's
		}
		b.SumSquares(p.Grad.Len(), p.Grad.Buffer(), beta, c.sum.Buffer())
	}
	b.ClipFactor(c.MaxNorm, c.sum.Buffer(), c.factor.Buffer())
	for _, p := range params {
		b.ScaleBy(p.Grad.Len(), 1, c.factor.Buffer(), p.Grad.Buffer(), p.Grad.Buffer())
	}
	return nil
}

// SumSquares returns the one-value device tensor that holds the sum of
// squares of the gradients before the latest Clip scaled them (the squared
// global norm), or nil before the first Clip. Reading it synchronises.
func (c *GradClipper) SumSquares() *tensor.Tensor { return c.sum }

// Free releases the clipper's device tensors.
func (c *GradClipper) Free() {
	c.sum.Free()
	c.factor.Free()
	c.sum, c.factor = nil, nil
}

// ClipGradNorm scales the gradients of params so that their global norm is
// at most maxNorm, with a GradClipper of its own: it allocates two
// one-value tensors each call. A training loop keeps a GradClipper
// instead.
func ClipGradNorm(params []Param, maxNorm float32) error {
	c := GradClipper{MaxNorm: maxNorm}
	defer c.Free()
	if err := c.Clip(params); err != nil {
		return err
	}
	if len(params) == 0 {
		return nil
	}
	return params[0].Grad.Backend().Err()
}
