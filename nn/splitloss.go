package nn

import (
	"fmt"

	"github.com/diynn/diynn/tensor"
)

// LossPart is one part of a SplitLoss: a block of the prediction's columns,
// the matching block of the target's, the loss between them and its weight.
type LossPart struct {
	Width       int // the part's prediction columns
	TargetWidth int // its target columns: Width, or 1 for class labels
	// Labels says the target part is one class index per sample, handed to
	// Loss as a batch-long vector, as CrossEntropyLoss wants it.
	Labels bool
	Loss   Loss
	Weight float32
}

// SplitLoss is a weighted sum of losses on blocks of columns: the
// prediction of a network with several heads (Concat) against a target
// that holds each head's target side by side. A joint autoencoder's
// prediction is a reconstruction followed by class scores, its target the
// input followed by the label:
//
//	nn.NewSplitLoss(
//		nn.LossPart{Width: 784, TargetWidth: 784, Loss: nn.BCELoss(), Weight: 1},
//		nn.LossPart{Width: 10, TargetWidth: 1, Labels: true, Loss: nn.NewCrossEntropyLoss(), Weight: 0.1})
//
// Its value is Σ Weight·part loss, each part's loss its own mean (BCE over
// the part's values, cross-entropy over the batch); Value(i) is part i's.
type SplitLoss struct {
	Parts                 []LossPart
	preds, targets, parts []*tensor.Tensor // per part: its columns of the prediction and target, its loss
	lossBuffers
}

// NewSplitLoss sums parts, in column order.
func NewSplitLoss(parts ...LossPart) *SplitLoss {
	return &SplitLoss{Parts: parts}
}

func (s *SplitLoss) widths() (pred, target int) {
	for _, p := range s.Parts {
		pred += p.Width
		target += p.TargetWidth
	}
	return pred, target
}

// Forward computes the weighted sum of the parts' losses.
func (s *SplitLoss) Forward(pred, target *tensor.Tensor) (*tensor.Tensor, error) {
	pw, tw := s.widths()
	rows := pred.Rows()
	switch {
	case len(s.Parts) == 0:
		return nil, fmt.Errorf("split loss: no parts")
	case pred.Cols() != pw || len(pred.Shape()) < 2:
		return nil, fmt.Errorf("split loss: prediction of shape %v, want (batch×%d), the parts' widths", pred.Shape(), pw)
	case target.Rows() != rows || target.Cols() != tw || len(target.Shape()) < 2:
		return nil, fmt.Errorf("split loss: target of shape %v, want (%d×%d), the parts' target widths", target.Shape(), rows, tw)
	}
	if err := tensor.SameBackend(pred, target); err != nil {
		return nil, err
	}
	if err := s.ensure(pred); err != nil {
		return nil, err
	}
	if len(s.preds) != len(s.Parts) {
		s.preds, s.targets, s.parts = make([]*tensor.Tensor, len(s.Parts)), make([]*tensor.Tensor, len(s.Parts)), make([]*tensor.Tensor, len(s.Parts))
	}
	b := pred.Backend()
	b.Fill(1, 0, s.value.Buffer())
	col, tcol := 0, 0
	for i, p := range s.Parts {
		if p.Width <= 0 || p.TargetWidth <= 0 || p.Labels && p.TargetWidth != 1 || p.Loss == nil {
			return nil, fmt.Errorf("split loss: part %d (%d columns, %d target columns, labels %v): want positive widths, one target column for labels, and a loss",
				i, p.Width, p.TargetWidth, p.Labels)
		}
		if err := tensor.Ensure(&s.preds[i], b, rows, p.Width); err != nil {
			return nil, err
		}
		var err error
		if p.Labels {
			err = tensor.Ensure(&s.targets[i], b, rows)
		} else {
			err = tensor.Ensure(&s.targets[i], b, rows, p.TargetWidth)
		}
		if err != nil {
			return nil, err
		}
		b.CopyColumns(rows, p.Width, pred.Buffer(), pw, col, s.preds[i].Buffer(), p.Width, 0)
		b.CopyColumns(rows, p.TargetWidth, target.Buffer(), tw, tcol, s.targets[i].Buffer(), p.TargetWidth, 0)
		v, err := p.Loss.Forward(s.preds[i], s.targets[i])
		if err != nil {
			return nil, fmt.Errorf("split loss, part %d: %w", i, err)
		}
		s.parts[i] = v
		b.Axpy(1, p.Weight, v.Buffer(), s.value.Buffer())
		// The part's gradient, weighted, into its columns of the whole's.
		g := p.Loss.Backward()
		if p.Weight != 1 {
			b.Scale(g.Len(), p.Weight, g.Buffer())
		}
		b.CopyColumns(rows, p.Width, g.Buffer(), p.Width, 0, s.grad.Buffer(), pw, col)
		col += p.Width
		tcol += p.TargetWidth
	}
	return s.value, nil
}

// Value is part i's own (unweighted) mean loss in the latest Forward, on
// the device; nil before the first.
func (s *SplitLoss) Value(i int) *tensor.Tensor {
	if i < 0 || i >= len(s.parts) {
		return nil
	}
	return s.parts[i]
}

// Free releases the loss's device buffers and those of its parts that
// have a Free method.
func (s *SplitLoss) Free() {
	s.lossBuffers.Free()
	for i := range s.preds {
		for _, t := range []*tensor.Tensor{s.preds[i], s.targets[i]} {
			if t != nil {
				t.Free()
			}
		}
	}
	s.preds, s.targets, s.parts = nil, nil, nil
	for _, p := range s.Parts {
		if f, ok := p.Loss.(interface{ Free() }); ok {
			f.Free()
		}
	}
}
