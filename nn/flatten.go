package nn

import (
	"fmt"

	"github.com/diynn/diynn/tensor"
)

// Flatten turns a batch of any per-sample shape into rows: (batch×C×H×W)
// becomes (batch×C·H·W), torch7's View(-1). It copies nothing: its output is
// a view of its input's buffer, and its input gradient a view of gradOut's,
// shaped as the input. Layers that mix features read an N-D input as rows
// anyway (see Linear); Flatten says so in a spec, and gives the rows to
// modules that need a 2-D input.
//
// The views are kept and resized, so a steady-state step allocates nothing
// as long as the input tensor is the same from step to step (the output of
// the module before, or a batch buffer); a new input tensor costs one small
// Go allocation for its view.
type Flatten struct {
	src, out  *tensor.Tensor // out views src's buffer
	grad, dx  *tensor.Tensor // dx views grad's buffer
	forwarded bool
}

// NewFlatten returns a Flatten module.
func NewFlatten() *Flatten { return &Flatten{} }

func (f *Flatten) String() string { return "Flatten" }

// Spec returns the layer in the spec language: flatten.
func (f *Flatten) Spec() string { return "flatten" }

// OutputShape is (volume of in).
func (f *Flatten) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if err := checkShape(f, in); err != nil {
		return nil, err
	}
	return tensor.Shape{volume(in)}, nil
}

// view makes *v a view of src with the given shape, reusing *v when it
// already views src (the same tensor, hence the same buffer).
func view(v **tensor.Tensor, cached **tensor.Tensor, src *tensor.Tensor, shape ...int) error {
	if *cached == src && *v != nil {
		return (*v).Resize(shape...)
	}
	nv, err := src.View(shape...)
	if err != nil {
		return err
	}
	*v, *cached = nv, src
	return nil
}

// Forward returns x viewed as (batch×values per sample).
func (f *Flatten) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if len(x.Shape()) == 0 {
		return nil, fmt.Errorf("%v: input shape %v has no batch dimension", f, x.Shape())
	}
	if err := view(&f.out, &f.src, x, x.Rows(), x.Cols()); err != nil {
		return nil, fmt.Errorf("%v: %w", f, err)
	}
	f.forwarded = true
	return f.out, nil
}

// Backward returns gradOut viewed with x's shape.
func (f *Flatten) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if !f.forwarded {
		return nil, fmt.Errorf("%v: Backward called before Forward", f)
	}
	if len(x.Shape()) == 0 || len(gradOut.Shape()) != 2 || gradOut.Rows() != x.Rows() || gradOut.Cols() != x.Cols() {
		return nil, fmt.Errorf("%v: Backward: gradient shape %v does not match input %v, want (%d×%d)",
			f, gradOut.Shape(), x.Shape(), x.Rows(), x.Cols())
	}
	if err := view(&f.dx, &f.grad, gradOut, x.Shape()...); err != nil {
		return nil, fmt.Errorf("%v: %w", f, err)
	}
	return f.dx, nil
}

// Params returns nothing.
func (f *Flatten) Params() []Param { return nil }
