package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/metrics"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// Evaluate runs net over d in evaluation mode (nn.SetTraining(net,
// false), which it leaves set) and returns the mean cross-entropy, the
// full metrics report and the predicted classes.
func Evaluate(net nn.Module, d *data.Dataset) (loss float64, r *metrics.Report, preds []int, err error) {
	if err := checkEvalSet(d, "Evaluate"); err != nil {
		return 0, nil, nil, err
	}
	b, _, err := backendOf(net)
	if err != nil {
		return 0, nil, nil, err
	}
	if err := checkData(net, d, Classify, true); err != nil {
		return 0, nil, nil, err
	}
	od, err := upload(b, d)
	if err != nil {
		return 0, nil, nil, err
	}
	defer od.free()
	lossFn := defaultLoss(Classify)
	defer lossFn.Free() // a fresh loss each pass: its buffers must not pile up on the device
	nn.SetTraining(net, false)
	res, err := evaluate(net, od, 1000, Classify, lossFn, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	r, err = report(d, res.preds)
	return res.loss, r, res.preds, err
}

// report is the metrics report of predicted classes against d's labels.
func report(d *data.Dataset, preds []int) (*metrics.Report, error) {
	labels := make([]int, d.N)
	for i, y := range d.Y {
		labels[i] = int(y)
	}
	return metrics.Evaluate(labels, preds, d.ClassNames)
}

// JointResult is what EvaluateJoint measures of a joint autoencoder.
type JointResult struct {
	// BCE is the reconstruction's mean binary cross-entropy over every
	// value, as EvaluateReconstruction's; CrossEntropy the classifier's
	// mean over the samples, as Evaluate's.
	BCE, CrossEntropy float64
	Report            *metrics.Report // the classifier's
	Preds             []int
}

// EvaluateJoint evaluates a joint autoencoder (Task Joint: the outputs are
// the reconstruction followed by the class logits) on d, in evaluation
// mode (which it leaves set): each head's loss and the classifier's
// metrics.
func EvaluateJoint(net nn.Module, d *data.Dataset) (*JointResult, error) {
	if err := checkEvalSet(d, "EvaluateJoint"); err != nil {
		return nil, err
	}
	b, _, err := backendOf(net)
	if err != nil {
		return nil, err
	}
	if err := checkData(net, d, Joint, true); err != nil {
		return nil, err
	}
	od, err := upload(b, d)
	if err != nil {
		return nil, err
	}
	defer od.free()
	lossFn := jointLoss(d.Features, d.Classes(), 1)
	defer lossFn.Free()
	nn.SetTraining(net, false)
	res, err := evaluate(net, od, 1000, Joint, lossFn, nil)
	if err != nil {
		return nil, err
	}
	r, err := report(d, res.preds)
	if err != nil {
		return nil, err
	}
	return &JointResult{BCE: res.parts[0], CrossEntropy: res.parts[1], Report: r, Preds: res.preds}, nil
}

// EvaluateReconstruction returns an autoencoder's mean binary cross-entropy
// on d (over every pixel, as PyTorch's BCELoss), in evaluation mode (which
// it leaves set).
func EvaluateReconstruction(net nn.Module, d *data.Dataset) (float64, error) {
	if err := checkEvalSet(d, "EvaluateReconstruction"); err != nil {
		return 0, err
	}
	b, _, err := backendOf(net)
	if err != nil {
		return 0, err
	}
	if err := checkData(net, d, Reconstruct, true); err != nil {
		return 0, err
	}
	od, err := upload(b, d)
	if err != nil {
		return 0, err
	}
	defer od.free()
	lossFn := defaultLoss(Reconstruct)
	defer lossFn.Free()
	nn.SetTraining(net, false)
	res, err := evaluate(net, od, 1000, Reconstruct, lossFn, nil)
	return res.loss, err
}

// evalResult is what one evaluation pass measures: the mean loss, and
// (Classify, Joint) the accuracy and predicted classes; accuracy is NaN
// for Reconstruct. parts are the mean of each part of a SplitLoss.
type evalResult struct {
	loss, acc float64
	preds     []int
	parts     []float64
}

// evaluate runs net over a device-resident dataset in batches, as it is
// (the caller sets the mode): the mean of lossFn, and for classification
// the accuracy and the predicted classes (accuracy NaN otherwise).
// transform, if set, chooses each batch's input and target, as
// Config.Transform; else the target is the labels (Classify) or the input
// (Reconstruct).
func evaluate(net nn.Module, d *onDevice, batch int, task Task, lossFn nn.Loss,
	transform func(x, y *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, error)) (res evalResult, err error) {
	b := d.x.Backend()
	batch = min(batch, d.n)
	idx := make([]float32, d.n)
	for i := range idx {
		idx[i] = float32(i)
	}
	dims := append([]int{batch}, d.shape...)
	order, err1 := tensor.FromSlice(b, idx, d.n)
	x, err2 := tensor.New(b, dims...)
	y, err3 := tensor.New(b, batch)
	pred, err4 := tensor.New(b, batch)
	defer func() { order.Free(); x.Free(); y.Free(); pred.Free() }()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return res, err
	}
	features := d.x.Cols()
	var xt *tensor.Tensor // Reconstruct: x viewed in the output's shape (a view: never freed)
	var tdims []int
	if task == Reconstruct {
		tdims = append([]int{batch}, reconShape(net, d.shape)...)
		if xt, err = x.View(tdims...); err != nil {
			return res, err
		}
	}
	var loss float64
	var preds []int
	if task != Reconstruct {
		preds = make([]int, 0, d.n)
	}
	// Joint: the target is x's values and the label side by side, and the
	// classes are the argmax of the outputs after the reconstruction's.
	var jt, logits *tensor.Tensor
	classes := 0
	if task == Joint {
		classes = d.host.Classes()
		var err1, err2 error
		jt, err1 = tensor.New(b, batch, features+1)
		logits, err2 = tensor.New(b, batch, max(classes, 1))
		defer func() { jt.Free(); logits.Free() }()
		if err := errors.Join(err1, err2); err != nil {
			return res, err
		}
	}
	split, _ := lossFn.(*nn.SplitLoss)
	if split != nil {
		res.parts = make([]float64, len(split.Parts))
	}
	host := make([]float32, batch)
	one := make([]float32, 1)
	right := 0
	for off := 0; off < d.n; off += batch {
		n := min(batch, d.n-off)
		dims[0] = n
		if err := errors.Join(x.Resize(dims...), y.Resize(n), pred.Resize(n)); err != nil {
			return res, err
		}
		b.GatherRows(n, features, d.x.Buffer(), order.Buffer(), off, x.Buffer())
		b.GatherRows(n, 1, d.y.Buffer(), order.Buffer(), off, y.Buffer())
		input, target := x, y
		if xt != nil {
			tdims[0] = n
			if err := xt.Resize(tdims...); err != nil {
				return res, err
			}
			target = xt
		}
		if jt != nil {
			if err := jt.Resize(n, features+1); err != nil {
				return res, err
			}
			jointTarget(b, n, features, x, y, jt)
			target = jt
		}
		if transform != nil {
			if input, target, err = transform(x, y); err != nil {
				return res, fmt.Errorf("EvalTransform: %w", err)
			}
			if err := checkTransformed(input, target); err != nil {
				return res, fmt.Errorf("EvalTransform: %w", err)
			}
		}
		out, err := net.Forward(input)
		if err != nil {
			return res, err
		}
		l, err := lossFn.Forward(out, target)
		if err != nil {
			return res, err
		}
		if err := b.Download(one, l.Buffer()); err != nil {
			return res, err
		}
		loss += float64(one[0]) * float64(n)
		for i := range res.parts {
			if err := b.Download(one, split.Value(i).Buffer()); err != nil {
				return res, err
			}
			res.parts[i] += float64(one[0]) * float64(n)
		}
		switch task {
		case Reconstruct:
			continue
		case Joint:
			if err := logits.Resize(n, classes); err != nil {
				return res, err
			}
			b.CopyColumns(n, classes, out.Buffer(), out.Cols(), out.Cols()-classes, logits.Buffer(), classes, 0)
			b.ArgmaxRows(n, classes, logits.Buffer(), pred.Buffer())
		default:
			b.ArgmaxRows(n, out.Cols(), out.Buffer(), pred.Buffer())
		}
		if err := b.Download(host[:n], pred.Buffer()); err != nil {
			return res, err
		}
		for i, p := range host[:n] {
			preds = append(preds, int(p))
			if p == d.host.Y[off+i] {
				right++
			}
		}
	}
	for i := range res.parts {
		res.parts[i] /= float64(d.n)
	}
	if task == Reconstruct {
		return evalResult{loss: loss / float64(d.n), acc: math.NaN(), parts: res.parts}, nil
	}
	return evalResult{loss: loss / float64(d.n), acc: float64(right) / float64(d.n), preds: preds, parts: res.parts}, nil
}

// checkEvalSet refuses a missing or empty dataset to evaluate on: its mean
// loss would be 0/0.
func checkEvalSet(d *data.Dataset, what string) error {
	if d == nil {
		return fmt.Errorf("train: %s: no dataset", what)
	}
	if d.N == 0 {
		return fmt.Errorf("train: %s: %s has no samples", what, d.Name)
	}
	return nil
}

// checkTransformed refuses what a Transform returned when the step cannot
// use it: a missing tensor would crash the network's Forward. (Shapes and
// backends are the network's and the loss's to check; they name both.)
func checkTransformed(input, target *tensor.Tensor) error {
	if input == nil || target == nil {
		return fmt.Errorf("returned a nil tensor (input %v, target %v): return x and y to change nothing", shapeOrNil(input), shapeOrNil(target))
	}
	return nil
}

func shapeOrNil(t *tensor.Tensor) any {
	if t == nil {
		return "nil"
	}
	return t.Shape()
}
