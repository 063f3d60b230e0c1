package nn

import (
	"fmt"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// Loss compares a batch of predictions with targets.
type Loss interface {
	// Forward computes the mean loss into a one-value tensor that stays on
	// the device (read it with Data when needed: reading synchronises), and
	// keeps the gradient for Backward.
	Forward(pred, target *tensor.Tensor) (*tensor.Tensor, error)
	// Backward returns the gradient of the latest Forward's loss with
	// respect to pred.
	Backward() *tensor.Tensor
}

// lossBuffers holds a loss's value and gradient between calls.
type lossBuffers struct {
	value, grad *tensor.Tensor
}

func (l *lossBuffers) ensure(pred *tensor.Tensor) error {
	b := pred.Backend()
	if err := tensor.Ensure(&l.value, b, 1); err != nil {
		return err
	}
	return tensor.Ensure(&l.grad, b, pred.Shape()...)
}

// Backward returns the gradient with respect to the prediction.
func (l *lossBuffers) Backward() *tensor.Tensor { return l.grad }

// Free releases the loss's device buffers; a later Forward allocates them
// again. A loss made for one pass (an evaluation) must be freed, or a GPU
// keeps its buffers until the backend is closed.
func (l *lossBuffers) Free() {
	if l.value != nil {
		l.value.Free()
	}
	if l.grad != nil {
		l.grad.Free()
	}
	l.value, l.grad = nil, nil
}

// PointwiseLoss is a loss computed element by element and averaged over
// every element: MSE, BCE or BCE with logits.
type PointwiseLoss struct {
	Kind backend.PointwiseLoss
	lossBuffers
}

// MSELoss returns the mean squared error.
func MSELoss() *PointwiseLoss { return &PointwiseLoss{Kind: backend.MSE} }

// BCELoss returns binary cross-entropy on probabilities in [0, 1]; its logs
// are clamped at -100 as in PyTorch, so 0 and 1 give finite values.
func BCELoss() *PointwiseLoss { return &PointwiseLoss{Kind: backend.BCE} }

// BCEWithLogitsLoss returns binary cross-entropy on logits, which is stabler
// than a Sigmoid followed by BCELoss.
func BCEWithLogitsLoss() *PointwiseLoss { return &PointwiseLoss{Kind: backend.BCEWithLogits} }

// Forward computes the mean loss.
func (l *PointwiseLoss) Forward(pred, target *tensor.Tensor) (*tensor.Tensor, error) {
	// The loss's name is joined into the message only on error: a string
	// built for every call would be a heap allocation per training step.
	if err := tensor.SameShape("loss: prediction and target", pred, target); err != nil {
		return nil, fmt.Errorf("%v %w", l.Kind, err)
	}
	if err := tensor.SameBackend(pred, target); err != nil {
		return nil, err
	}
	if err := l.ensure(pred); err != nil {
		return nil, err
	}
	pred.Backend().Loss(l.Kind, pred.Len(), pred.Buffer(), target.Buffer(), l.grad.Buffer(), l.value.Buffer())
	return l.value, nil
}

// CrossEntropyLoss is softmax cross-entropy between logits (batch×classes)
// and class indices (a batch-long tensor of float32 indices), averaged over
// the batch and computed with log-sum-exp so large logits stay finite.
type CrossEntropyLoss struct {
	lossBuffers
}

// NewCrossEntropyLoss returns a cross-entropy loss.
func NewCrossEntropyLoss() *CrossEntropyLoss { return &CrossEntropyLoss{} }

// Forward computes the mean cross-entropy.
func (l *CrossEntropyLoss) Forward(logits, labels *tensor.Tensor) (*tensor.Tensor, error) {
	if labels.Len() != logits.Rows() || len(labels.Shape()) != 1 {
		return nil, fmt.Errorf("cross-entropy: labels of shape %v for logits of shape %v, want (%d)",
			labels.Shape(), logits.Shape(), logits.Rows())
	}
	if err := tensor.SameBackend(logits, labels); err != nil {
		return nil, err
	}
	if err := l.ensure(logits); err != nil {
		return nil, err
	}
	logits.Backend().CrossEntropy(logits.Rows(), logits.Cols(), logits.Buffer(), labels.Buffer(), l.grad.Buffer(), l.value.Buffer())
	return l.value, nil
}
