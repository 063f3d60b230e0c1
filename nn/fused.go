package nn

import (
	"fmt"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// Fused epilogues (issue 17). A Linear (or a TiedLinear) followed by an
// Activation in a Sequential runs as one step on a backend that implements
// backend.FusedLinear:
//
//	forward:  y = f(x·Wᵀ + b)  one GemmBiasAct (bias and f applied as C is stored)
//	backward: dz = f'(y)⊙dy and Σ rows of dz into the bias gradient, one
//	          ActBackwardSumRows; then the two GEMMs of Linear's backward
//
// instead of Gemm, AddRowVector, ActForward and ActBackward, SumRows: the
// layer's output is written once and its pre-activation never exists. The
// modules stay two modules — their specs, parameter names ("0.weight",
// "0.bias") and saved files are those of the unfused network — and the
// fusion is only how Sequential runs them. The Activation keeps the output
// y (its own output tensor), from which the derivative is taken; the
// Linear's own output tensor is not written. Backends without the capability
// (found by type assertion) run the modules one by one, as does a
// Sequential with Unfused set.

// fusableLinear is a layer whose forward is one GEMM and a bias, which
// Sequential may run fused with the activation after it: Linear, and
// TiedLinear (h·W for x·Wᵀ; the autoencoders' decoders). Another layer
// joins by implementing both methods.
type fusableLinear interface {
	Module
	// forwardFused computes a(layer(x)) into a's output and returns it.
	forwardFused(fb backend.FusedLinear, a *Activation, x *tensor.Tensor) (*tensor.Tensor, error)
	// backwardFused is a's Backward then the layer's, given the gradient
	// of a's output; without needInputGrad it returns nil.
	backwardFused(fb backend.FusedLinear, a *Activation, x, gradOut *tensor.Tensor, needInputGrad bool) (*tensor.Tensor, error)
}

var (
	_ fusableLinear = (*Linear)(nil)
	_ fusableLinear = (*TiedLinear)(nil)
)

// fusable returns m0 and m1 as a fusable layer and the Activation that
// follows it, when the pair can run fused: the activation is a known one,
// and for LeakyReLU its slope is ≥ 0, since the fused backward takes the
// derivative from the output (y > 0 exactly when x > 0 only then).
func fusable(m0, m1 Module) (fusableLinear, *Activation, bool) {
	l, ok1 := m0.(fusableLinear)
	a, ok2 := m1.(*Activation)
	if !ok1 || !ok2 || a == nil || a.F.Check() != nil {
		return nil, nil, false
	}
	if a.F == backend.LeakyReLU && !(a.Alpha >= 0) {
		return nil, nil, false
	}
	return l, a, true
}

// forwardFused computes a(l(x)) with one GemmBiasAct into a's output.
func (l *Linear) forwardFused(fb backend.FusedLinear, a *Activation, x *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkInput(l, x, l.In); err != nil {
		return nil, err
	}
	rows := x.Rows()
	if err := tensor.Ensure(&a.out, x.Backend(), rows, l.Out); err != nil {
		return nil, err
	}
	// The Linear's own output is not needed here, but it is sized as in an
	// unfused run, so that a network allocates what model.Plan.Estimate
	// counts (every layer's output) on every backend, fused or not.
	// Dropping it saves one rows×Out tensor per pair once Estimate knows
	// which pairs fuse.
	if err := tensor.Ensure(&l.out, x.Backend(), rows, l.Out); err != nil {
		return nil, err
	}
	if err := tensor.SameBackend(x, l.W.Value, a.out); err != nil {
		return nil, fmt.Errorf("%v: %w", l, err)
	}
	fb.GemmBiasAct(false, true, rows, l.Out, l.In, 1, x.Buffer(), l.W.Value.Buffer(), 0, a.out.Buffer(), l.B.Value.Buffer(), a.F, a.Alpha)
	return a.out, nil
}

// backwardFused is a's Backward and then l's, given gradOut, the gradient
// of a's output: dz = f'(y)⊙gradOut (in a's input-gradient tensor) and the
// bias gradient in one ActBackwardSumRows, the weight gradient dzᵀ·x, and,
// when needInputGrad, the input gradient dz·W.
func (l *Linear) backwardFused(fb backend.FusedLinear, a *Activation, x, gradOut *tensor.Tensor, needInputGrad bool) (*tensor.Tensor, error) {
	if err := checkGradOut(a, a.out, gradOut); err != nil {
		return nil, err
	}
	rows := gradOut.Rows()
	if err := tensor.Ensure(&a.dx, gradOut.Backend(), rows, l.Out); err != nil {
		return nil, err
	}
	fb.ActBackwardSumRows(a.F, a.Alpha, rows, l.Out, a.out.Buffer(), gradOut.Buffer(), a.dx.Buffer(), 1, l.B.Grad.Buffer())
	if err := l.accWeightGrad(x, a.dx); err != nil {
		return nil, err
	}
	if !needInputGrad {
		return nil, nil
	}
	return l.inputGrad(x, a.dx)
}

// forwardFused computes a(h·W + b) with one GemmBiasAct into a's output.
func (d *TiedLinear) forwardFused(fb backend.FusedLinear, a *Activation, h *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkInput(d, h, d.Enc.Out); err != nil {
		return nil, err
	}
	rows, in, out := h.Rows(), d.Enc.Out, d.Enc.In
	if err := tensor.Ensure(&a.out, h.Backend(), rows, out); err != nil {
		return nil, err
	}
	// As in Linear.forwardFused: sized as in an unfused run, not written.
	if err := tensor.Ensure(&d.out, h.Backend(), rows, out); err != nil {
		return nil, err
	}
	if err := tensor.SameBackend(h, d.Enc.W.Value, a.out); err != nil {
		return nil, fmt.Errorf("%v: %w", d, err)
	}
	fb.GemmBiasAct(false, false, rows, out, in, 1, h.Buffer(), d.Enc.W.Value.Buffer(), 0, a.out.Buffer(), d.B.Value.Buffer(), a.F, a.Alpha)
	return a.out, nil
}

// backwardFused is a's Backward then d's: dz and the bias gradient in one
// ActBackwardSumRows, hᵀ·dz into the encoder's weight gradient, and, when
// needInputGrad, dz·Wᵀ.
func (d *TiedLinear) backwardFused(fb backend.FusedLinear, a *Activation, h, gradOut *tensor.Tensor, needInputGrad bool) (*tensor.Tensor, error) {
	if err := checkGradOut(a, a.out, gradOut); err != nil {
		return nil, err
	}
	rows, out := gradOut.Rows(), d.Enc.In
	if err := tensor.Ensure(&a.dx, gradOut.Backend(), rows, out); err != nil {
		return nil, err
	}
	fb.ActBackwardSumRows(a.F, a.Alpha, rows, out, a.out.Buffer(), gradOut.Buffer(), a.dx.Buffer(), 1, d.B.Grad.Buffer())
	if err := tensor.Gemm(true, false, 1, h, a.dx, 1, d.Enc.W.Grad); err != nil {
		return nil, err
	}
	if !needInputGrad {
		return nil, nil
	}
	if err := tensor.Ensure(&d.dx, h.Backend(), h.Shape()...); err != nil {
		return nil, err
	}
	return d.dx, tensor.Gemm(false, true, 1, a.dx, d.Enc.W.Value, 0, d.dx)
}
