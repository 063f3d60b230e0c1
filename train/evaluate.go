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
	loss, _, preds, err = evaluate(net, od, 1000, Classify, lossFn, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	labels := make([]int, d.N)
	for i, y := range d.Y {
		labels[i] = int(y)
	}
	r, err = metrics.Evaluate(labels, preds, d.ClassNames)
	return loss, r, preds, err
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
	loss, _, _, err := evaluate(net, od, 1000, Reconstruct, lossFn, nil)
	return loss, err
}

// evaluate runs net over a device-resident dataset in batches, as it is
// (the caller sets the mode): the mean of lossFn, and for classification
// the accuracy and the predicted classes (accuracy NaN otherwise).
// transform, if set, chooses each batch's input and target, as
// Config.Transform; else the target is the labels (Classify) or the input
// (Reconstruct).
func evaluate(net nn.Module, d *onDevice, batch int, task Task, lossFn nn.Loss,
	transform func(x, y *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, error)) (loss, acc float64, preds []int, err error) {
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
		return 0, 0, nil, err
	}
	features := d.x.Cols()
	var xt *tensor.Tensor // Reconstruct: x viewed in the output's shape (a view: never freed)
	var tdims []int
	if task == Reconstruct {
		tdims = append([]int{batch}, reconShape(net, d.shape)...)
		if xt, err = x.View(tdims...); err != nil {
			return 0, 0, nil, err
		}
	}
	if task == Classify {
		preds = make([]int, 0, d.n)
	}
	host := make([]float32, batch)
	one := make([]float32, 1)
	right := 0
	for off := 0; off < d.n; off += batch {
		n := min(batch, d.n-off)
		dims[0] = n
		if err := errors.Join(x.Resize(dims...), y.Resize(n), pred.Resize(n)); err != nil {
			return 0, 0, nil, err
		}
		b.GatherRows(n, features, d.x.Buffer(), order.Buffer(), off, x.Buffer())
		b.GatherRows(n, 1, d.y.Buffer(), order.Buffer(), off, y.Buffer())
		input, target := x, y
		if xt != nil {
			tdims[0] = n
			if err := xt.Resize(tdims...); err != nil {
				return 0, 0, nil, err
			}
			target = xt
		}
		if transform != nil {
			if input, target, err = transform(x, y); err != nil {
				return 0, 0, nil, fmt.Errorf("EvalTransform: %w", err)
			}
			if err := checkTransformed(input, target); err != nil {
				return 0, 0, nil, fmt.Errorf("EvalTransform: %w", err)
			}
		}
		out, err := net.Forward(input)
		if err != nil {
			return 0, 0, nil, err
		}
		l, err := lossFn.Forward(out, target)
		if err != nil {
			return 0, 0, nil, err
		}
		if err := b.Download(one, l.Buffer()); err != nil {
			return 0, 0, nil, err
		}
		loss += float64(one[0]) * float64(n)
		if task == Reconstruct {
			continue
		}
		b.ArgmaxRows(n, out.Cols(), out.Buffer(), pred.Buffer())
		if err := b.Download(host[:n], pred.Buffer()); err != nil {
			return 0, 0, nil, err
		}
		for i, p := range host[:n] {
			preds = append(preds, int(p))
			if p == d.host.Y[off+i] {
				right++
			}
		}
	}
	if task == Reconstruct {
		return loss / float64(d.n), math.NaN(), nil, nil
	}
	return loss / float64(d.n), float64(right) / float64(d.n), preds, nil
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
