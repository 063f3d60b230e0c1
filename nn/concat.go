package nn

import (
	"fmt"
	"strings"

	"github.com/diynn/diynn/tensor"
)

// Concat runs every head on the same input and joins their outputs along
// the features, torch7's ConcatTable followed by JoinTable: heads of
// (batch×3) and (batch×2) outputs give a (batch×5) output, the first head's
// values first. It is how one network has two outputs, as a joint
// autoencoder has a reconstruction and class scores on one code (pair it
// with SplitLoss). A head's output is read as a (batch×values) matrix, so
// the joined output is always 2-D.
//
// In Backward each head gets its own columns of the output's gradient, and
// the input gradient is the sum of the heads' input gradients, as for any
// value that feeds two consumers.
type Concat struct {
	Heads  []Module
	params []Param
	bufs   []Param
	// outs[h] is head h's output in the latest Forward, widths[h] its
	// values per sample.
	outs     []*tensor.Tensor
	widths   []int
	out, dx  *tensor.Tensor
	gradOuts []*tensor.Tensor // head h's columns of gradOut, in outs[h]'s shape
	lastIn   *tensor.Tensor
}

// NewConcat joins the outputs of heads, each run on the same input.
func NewConcat(heads ...Module) *Concat {
	c := &Concat{Heads: heads}
	c.sync()
	return c
}

// sync sizes the per-head slices and lists the parameters when Heads has
// changed length (a Concat written as a literal): never in a steady state.
func (c *Concat) sync() {
	if len(c.outs) == len(c.Heads) {
		return
	}
	n := len(c.Heads)
	c.outs, c.widths, c.gradOuts, c.params, c.bufs = make([]*tensor.Tensor, n), make([]int, n), make([]*tensor.Tensor, n), nil, nil
	for h, m := range c.Heads {
		for _, p := range m.Params() {
			p.Name = fmt.Sprintf("%d.%s", h, p.Name)
			c.params = append(c.params, p)
		}
		for _, p := range Buffers(m) {
			p.Name = fmt.Sprintf("%d.%s", h, p.Name)
			c.bufs = append(c.bufs, p)
		}
	}
}

func (c *Concat) String() string {
	parts := make([]string, len(c.Heads))
	for h, m := range c.Heads {
		parts[h] = describe(m)
	}
	return "Concat(" + strings.Join(parts, " | ") + ")"
}

// Forward runs the heads on x and joins their outputs.
func (c *Concat) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	c.sync()
	if len(c.Heads) == 0 {
		return nil, fmt.Errorf("%v: no heads", c)
	}
	total := 0
	for h, m := range c.Heads {
		y, err := m.Forward(x)
		if err != nil {
			return nil, fmt.Errorf("head %d: %w", h, err)
		}
		if y.Rows() != x.Rows() || len(y.Shape()) < 1 {
			return nil, fmt.Errorf("%v: head %d gave %v for a batch of %d", c, h, y.Shape(), x.Rows())
		}
		c.outs[h], c.widths[h] = y, y.Cols()
		total += y.Cols()
	}
	b := x.Backend()
	if err := tensor.Ensure(&c.out, b, x.Rows(), total); err != nil {
		return nil, err
	}
	col := 0
	for h, y := range c.outs {
		b.CopyColumns(x.Rows(), c.widths[h], y.Buffer(), c.widths[h], 0, c.out.Buffer(), total, col)
		col += c.widths[h]
	}
	c.lastIn = x
	return c.out, nil
}

// Backward gives each head its columns of gradOut and returns the sum of
// their input gradients.
func (c *Concat) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkGradOut(c, c.out, gradOut); err != nil {
		return nil, err
	}
	if x != c.lastIn {
		return nil, fmt.Errorf("%v: Backward with an input other than the latest Forward's", c)
	}
	b := x.Backend()
	rows, total := gradOut.Rows(), gradOut.Cols()
	if err := tensor.Ensure(&c.dx, b, x.Shape()...); err != nil {
		return nil, err
	}
	col := 0
	for h, m := range c.Heads {
		w := c.widths[h]
		// A head's output may be N-D (a decoder ending in reshape): its
		// gradient has that shape.
		if err := tensor.Ensure(&c.gradOuts[h], b, c.outs[h].Shape()...); err != nil {
			return nil, err
		}
		b.CopyColumns(rows, w, gradOut.Buffer(), total, col, c.gradOuts[h].Buffer(), w, 0)
		col += w
		dx, err := m.Backward(x, c.gradOuts[h])
		if err != nil {
			return nil, fmt.Errorf("head %d: %w", h, err)
		}
		if dx.Len() != c.dx.Len() {
			return nil, fmt.Errorf("%v: head %d's input gradient has shape %v, the input %v", c, h, dx.Shape(), x.Shape())
		}
		if h == 0 {
			b.Copy(dx.Len(), dx.Buffer(), c.dx.Buffer())
		} else {
			b.Axpy(dx.Len(), 1, dx.Buffer(), c.dx.Buffer())
		}
	}
	return c.dx, nil
}

// Params lists every head's parameters, named "head.name": "1.0.weight" is
// the weight of module 0 of head 1 when the heads are Sequentials.
func (c *Concat) Params() []Param { c.sync(); return c.params }

// Buffers lists every head's buffers, named as Params names parameters.
func (c *Concat) Buffers() []Param { c.sync(); return c.bufs }

// SetTraining switches every head to training or evaluation mode.
func (c *Concat) SetTraining(training bool) {
	for _, m := range c.Heads {
		SetTraining(m, training)
	}
}

// Reseed reseeds head h with MixSeed(seed, h).
func (c *Concat) Reseed(seed uint64) {
	for h, m := range c.Heads {
		Reseed(m, MixSeed(seed, uint64(h)))
	}
}

// OutputShape is (the sum of the heads' output volumes).
func (c *Concat) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if len(c.Heads) == 0 {
		return nil, fmt.Errorf("%v: no heads", c)
	}
	total := 0
	for h, m := range c.Heads {
		out, err := OutputShape(m, in)
		if err != nil {
			return nil, fmt.Errorf("%v: head %d: %w", c, h, err)
		}
		total += volume(out)
	}
	return tensor.Shape{total}, nil
}
