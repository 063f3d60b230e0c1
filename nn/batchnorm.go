package nn

import (
	"fmt"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/tensor"
)

// BatchNorm is batch normalisation (Ioffe and Szegedy, 2015), as PyTorch's
// nn.BatchNorm2d and nn.BatchNorm1d: each channel c is normalised by a mean
// and variance and then scaled and shifted by trained parameters,
//
//	y = (x − mean[c]) / √(var[c] + Eps) · weight[c] + bias[c]
//
// In training mode the mean and the biased variance are the batch's own,
// over the M = N·H·W values of the channel (N·L for a 1-D input of
// length L), and every Forward moves the running statistics towards them:
//
//	running_mean = (1 − Momentum)·running_mean + Momentum·mean
//	running_var  = (1 − Momentum)·running_var  + Momentum·var·M/(M − 1)
//
// (the unbiased variance, as PyTorch), and counts the batch in
// num_batches_tracked. In evaluation mode the running statistics are used
// instead, and the layer is a fixed per-channel affine map. The running
// statistics are buffers (BufferHolder), saved and loaded with the
// parameters under PyTorch's names; num_batches_tracked is one float32
// count (PyTorch's is an int64, which package model converts).
//
// BatchNorm2D takes images (N×C×H×W); BatchNorm1D takes features (N×F) or
// sequences (N×F×L).
type BatchNorm struct {
	// C is the number of channels (features for BatchNorm1D).
	C int
	// Eps is added to the variance (default 1e-5); Momentum weighs the
	// latest batch in the running statistics (default 0.1).
	Eps, Momentum float64
	// Weight and Bias are PyTorch's weight (γ, ones) and bias (β, zeros).
	Weight, Bias Param
	// RunningMean, RunningVar and NumBatches are the buffers
	// running_mean (zeros), running_var (ones) and num_batches_tracked.
	RunningMean, RunningVar, NumBatches Param

	twoD        bool
	training    bool
	state       passState // identity: the latest Forward used the running statistics
	n, hw       int       // of the latest Forward
	one         *tensor.Tensor
	mean, vari  *tensor.Tensor // the latest training batch's statistics
	out, dx     *tensor.Tensor
	params, buf []Param
}

// Defaults of PyTorch's batch normalisation.
const (
	DefaultBatchNormEps      = 1e-5
	DefaultBatchNormMomentum = 0.1
)

// NewBatchNorm2D returns batch normalisation over the c channels of images
// (N×c×H×W), in training mode.
func NewBatchNorm2D(b backend.Backend, c int) (*BatchNorm, error) { return newBatchNorm(b, c, true) }

// NewBatchNorm1D returns batch normalisation over the f features of
// (N×f) or (N×f×L) inputs, in training mode.
func NewBatchNorm1D(b backend.Backend, f int) (*BatchNorm, error) { return newBatchNorm(b, f, false) }

func newBatchNorm(b backend.Backend, c int, twoD bool) (*BatchNorm, error) {
	bn := &BatchNorm{C: c, Eps: DefaultBatchNormEps, Momentum: DefaultBatchNormMomentum, twoD: twoD, training: true}
	if c <= 0 {
		return nil, fmt.Errorf("nn: %v: the number of channels must be positive", bn)
	}
	filled := func(name string, v float32, grad bool, n int) (Param, error) {
		t, err := tensor.New(b, n)
		if err != nil {
			return Param{}, err
		}
		b.Fill(n, v, t.Buffer())
		p := Param{Name: name, Value: t}
		if grad {
			if p.Grad, err = tensor.Zeros(b, n); err != nil {
				return Param{}, err
			}
		}
		return p, nil
	}
	var errs [6]error
	bn.Weight, errs[0] = filled("weight", 1, true, c)
	bn.Bias, errs[1] = filled("bias", 0, true, c)
	bn.RunningMean, errs[2] = filled("running_mean", 0, false, c)
	bn.RunningVar, errs[3] = filled("running_var", 1, false, c)
	bn.NumBatches, errs[4] = filled("num_batches_tracked", 0, false, 1)
	var one Param
	one, errs[5] = filled("one", 1, false, 1)
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("nn: %v: %w", bn, err)
		}
	}
	bn.one = one.Value
	bn.params = []Param{bn.Weight, bn.Bias}
	bn.buf = []Param{bn.RunningMean, bn.RunningVar, bn.NumBatches}
	return bn, b.Err()
}

func (bn *BatchNorm) String() string {
	if bn.twoD {
		return fmt.Sprintf("BatchNorm2D(%s)", bn.args(", "))
	}
	return fmt.Sprintf("BatchNorm1D(%s)", bn.args(", "))
}

func (bn *BatchNorm) args(sep string) string {
	s := fmt.Sprint(bn.C)
	if bn.Eps != DefaultBatchNormEps {
		s += sep + "eps=" + formatFloat(bn.Eps)
	}
	if bn.Momentum != DefaultBatchNormMomentum {
		s += sep + "momentum=" + formatFloat(bn.Momentum)
	}
	return s
}

// Spec returns the layer in the spec language: batchnorm2d(C) or
// batchnorm1d(F), followed by ,eps=E and ,momentum=M when they are not
// PyTorch's defaults: batchnorm2d(32,momentum=0.01).
func (bn *BatchNorm) Spec() string {
	if bn.twoD {
		return "batchnorm2d(" + bn.args(",") + ")"
	}
	return "batchnorm1d(" + bn.args(",") + ")"
}

// SetTraining chooses batch statistics (training) or running statistics
// (evaluation).
func (bn *BatchNorm) SetTraining(training bool) { bn.training = training }

// Buffers returns running_mean, running_var and num_batches_tracked.
func (bn *BatchNorm) Buffers() []Param { return bn.buf }

// Params returns the weight and the bias.
func (bn *BatchNorm) Params() []Param { return bn.params }

// OutputShape is the input shape: (C×H×W) for BatchNorm2D, (F) or (F×L)
// for BatchNorm1D.
func (bn *BatchNorm) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if err := checkShape(bn, in); err != nil {
		return nil, err
	}
	if err := bn.checkDims(in, ""); err != nil {
		return nil, err
	}
	return append(tensor.Shape(nil), in...), nil
}

// checkDims checks a per-sample shape (batch is "batch×" for a whole
// input's message).
func (bn *BatchNorm) checkDims(s tensor.Shape, batch string) error {
	if bn.twoD {
		if len(s) != 3 || s[0] != bn.C {
			return fmt.Errorf("%v: input shape %v, want (%s%d×H×W)", bn, s, batch, bn.C)
		}
	} else if (len(s) != 1 && len(s) != 2) || s[0] != bn.C {
		return fmt.Errorf("%v: input shape %v, want (%s%d) or (%s%d×L)", bn, s, batch, bn.C, batch, bn.C)
	}
	return nil
}

// Forward normalises x with its own statistics in training mode, updating
// the running ones, and with the running statistics in evaluation mode.
func (bn *BatchNorm) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	s := x.Shape()
	if len(s) < 2 {
		return nil, fmt.Errorf("%v: input shape %v has no batch dimension", bn, s)
	}
	if bn.checkDims(s[1:], "") != nil {
		return nil, fmt.Errorf("%v: input shape %v, want %s", bn, s, bn.want())
	}
	b := x.Backend()
	n, hw := s[0], x.Cols()/bn.C
	if err := tensor.Ensure(&bn.out, b, s...); err != nil {
		return nil, fmt.Errorf("%v: %w", bn, err)
	}
	eps := float32(bn.Eps)
	bn.n, bn.hw = n, hw
	if !bn.training {
		b.BatchNormForward(n, bn.C, hw, eps, x.Buffer(), bn.RunningMean.Value.Buffer(), bn.RunningVar.Value.Buffer(),
			bn.Weight.Value.Buffer(), bn.Bias.Value.Buffer(), bn.out.Buffer())
		bn.state = identity
		return bn.out, nil
	}
	m := n * hw
	if m < 2 {
		return nil, fmt.Errorf("%v: input shape %v: training needs more than one value per channel (PyTorch's rule): the variance of one value is undefined", bn, s)
	}
	if err := tensor.Ensure(&bn.mean, b, bn.C); err != nil {
		return nil, fmt.Errorf("%v: %w", bn, err)
	}
	if err := tensor.Ensure(&bn.vari, b, bn.C); err != nil {
		return nil, fmt.Errorf("%v: %w", bn, err)
	}
	mean, vari := bn.mean.Buffer(), bn.vari.Buffer()
	b.BatchNormStats(n, bn.C, hw, x.Buffer(), mean, vari)
	b.BatchNormForward(n, bn.C, hw, eps, x.Buffer(), mean, vari, bn.Weight.Value.Buffer(), bn.Bias.Value.Buffer(), bn.out.Buffer())
	mom := float32(bn.Momentum)
	rm, rv := bn.RunningMean.Value.Buffer(), bn.RunningVar.Value.Buffer()
	b.Scale(bn.C, 1-mom, rm)
	b.Axpy(bn.C, mom, mean, rm)
	b.Scale(bn.C, 1-mom, rv)
	b.Axpy(bn.C, float32(bn.Momentum*float64(m)/float64(m-1)), vari, rv)
	b.Axpy(1, 1, bn.one.Buffer(), bn.NumBatches.Value.Buffer())
	bn.state = applied
	return bn.out, nil
}

func (bn *BatchNorm) want() string {
	if bn.twoD {
		return fmt.Sprintf("(batch×%d×H×W)", bn.C)
	}
	return fmt.Sprintf("(batch×%d) or (batch×%d×L)", bn.C, bn.C)
}

// Backward accumulates the weight and bias gradients and returns the input
// gradient, through the batch statistics when the latest Forward used them
// (each value's gradient then depends on the whole batch).
func (bn *BatchNorm) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if err := checkGradOut(bn, bn.out, gradOut); err != nil {
		return nil, err
	}
	b := x.Backend()
	if err := tensor.Ensure(&bn.dx, b, x.Shape()...); err != nil {
		return nil, fmt.Errorf("%v: %w", bn, err)
	}
	mean, vari := bn.RunningMean.Value, bn.RunningVar.Value
	if bn.state == applied {
		mean, vari = bn.mean, bn.vari
	}
	b.BatchNormBackward(bn.n, bn.C, bn.hw, float32(bn.Eps), bn.state == applied, x.Buffer(), gradOut.Buffer(),
		mean.Buffer(), vari.Buffer(), bn.Weight.Value.Buffer(), bn.dx.Buffer(), bn.Weight.Grad.Buffer(), bn.Bias.Grad.Buffer())
	return bn.dx, nil
}
