package nn

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/diynn/diynn/tensor"
)

// Reshape gives each sample a new shape of the same volume, as PyTorch's
// nn.Unflatten(1, shape) or x.view(batch, *shape): a decoder's
// Linear(32, 784) followed by Reshape(1, 28, 28) yields images for its
// transposed convolutions. Like Flatten it copies nothing: its output is a
// view of its input's buffer, and its input gradient a view of gradOut's,
// shaped as the input.
type Reshape struct {
	// Shape is the per-sample output shape.
	Shape tensor.Shape

	dims      []int          // (batch, Shape...), reused by every Forward
	src, out  *tensor.Tensor // out views src's buffer
	grad, dx  *tensor.Tensor // dx views grad's buffer
	forwarded bool
}

// NewReshape returns a module that views each sample with the given shape.
func NewReshape(shape ...int) (*Reshape, error) {
	r := &Reshape{Shape: append(tensor.Shape(nil), shape...)}
	if len(shape) == 0 {
		return nil, fmt.Errorf("nn: %v: the shape needs at least one dimension", r)
	}
	for _, d := range shape {
		if d <= 0 {
			return nil, fmt.Errorf("nn: %v: every dimension must be positive", r)
		}
	}
	r.dims = make([]int, len(shape)+1)
	copy(r.dims[1:], shape)
	return r, nil
}

func (r *Reshape) String() string { return "Reshape" + r.Shape.String() }

// Spec returns the layer in the spec language: reshape(C,H,W).
func (r *Reshape) Spec() string {
	parts := make([]string, len(r.Shape))
	for i, d := range r.Shape {
		parts[i] = strconv.Itoa(d)
	}
	return "reshape(" + strings.Join(parts, ",") + ")"
}

// OutputShape is Shape, for an input of the same volume.
func (r *Reshape) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if err := checkShape(r, in); err != nil {
		return nil, err
	}
	if volume(in) != volume(r.Shape) {
		return nil, fmt.Errorf("%v: input shape %v has %d values per sample, the shape %v has %d", r, in, volume(in), r.Shape, volume(r.Shape))
	}
	return append(tensor.Shape(nil), r.Shape...), nil
}

// Forward returns x viewed as (batch, Shape...).
func (r *Reshape) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if len(x.Shape()) == 0 {
		return nil, fmt.Errorf("%v: input shape %v has no batch dimension", r, x.Shape())
	}
	if x.Cols() != volume(r.Shape) {
		return nil, fmt.Errorf("%v: input shape %v has %d values per sample, the shape %v has %d", r, x.Shape(), x.Cols(), r.Shape, volume(r.Shape))
	}
	r.dims[0] = x.Rows()
	if err := view(&r.out, &r.src, x, r.dims...); err != nil {
		return nil, fmt.Errorf("%v: %w", r, err)
	}
	r.forwarded = true
	return r.out, nil
}

// Backward returns gradOut viewed with x's shape.
func (r *Reshape) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if !r.forwarded {
		return nil, fmt.Errorf("%v: Backward called before Forward", r)
	}
	if err := checkGradOut(r, r.out, gradOut); err != nil {
		return nil, err
	}
	if x.Len() != gradOut.Len() {
		return nil, fmt.Errorf("%v: Backward: input %v is not the latest Forward's (output %v)", r, x.Shape(), gradOut.Shape())
	}
	if err := view(&r.dx, &r.grad, gradOut, x.Shape()...); err != nil {
		return nil, fmt.Errorf("%v: %w", r, err)
	}
	return r.dx, nil
}

// Params returns nothing.
func (r *Reshape) Params() []Param { return nil }
