package nn

import (
	"github.com/diynn/diynn/tensor"
)

// Softmax normalises each sample (each row of the (batch×Cols) matrix)
// into probabilities, or into log-probabilities when Log is set. For
// classification, prefer feeding logits to
// CrossEntropyLoss, which is more stable than Softmax followed by a log.
type Softmax struct {
	Log     bool
	out, dx *tensor.Tensor
}

// NewSoftmax returns a row-wise softmax module.
func NewSoftmax() *Softmax { return &Softmax{} }

// NewLogSoftmax returns a row-wise log-softmax module.
func NewLogSoftmax() *Softmax { return &Softmax{Log: true} }

func (s *Softmax) String() string {
	if s.Log {
		return "logsoftmax"
	}
	return "softmax"
}

// Spec returns the layer in the spec language: softmax or logsoftmax.
func (s *Softmax) Spec() string { return s.String() }

// OutputShape is the input shape. The softmax runs over all the values of
// a sample: over the row of the (batch×Cols) matrix that x is.
func (s *Softmax) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if err := checkShape(s, in); err != nil {
		return nil, err
	}
	return append(tensor.Shape(nil), in...), nil
}

// Forward computes the (log-)softmax of each row of x.
func (s *Softmax) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	b := x.Backend()
	if err := tensor.Ensure(&s.out, b, x.Shape()...); err != nil {
		return nil, err
	}
	b.Softmax(s.Log, x.Rows(), x.Cols(), x.Buffer(), s.out.Buffer())
	return s.out, nil
}

// Backward returns the gradient with respect to x.
func (s *Softmax) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkGradOut(s, s.out, gradOut); err != nil {
		return nil, err
	}
	b := x.Backend()
	if err := tensor.Ensure(&s.dx, b, x.Shape()...); err != nil {
		return nil, err
	}
	b.SoftmaxBackward(s.Log, x.Rows(), x.Cols(), s.out.Buffer(), gradOut.Buffer(), s.dx.Buffer())
	return s.dx, nil
}

// Params returns nothing.
func (s *Softmax) Params() []Param { return nil }
