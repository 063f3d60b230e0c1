package train

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// Predictions are a network's outputs for N samples, on the host.
type Predictions struct {
	N int
	// Shape is the per-sample shape of the outputs: (10) for a classifier
	// of 10 classes.
	Shape tensor.Shape
	// Outputs holds the N outputs one after another, Width values each:
	// the logits of a classifier trained with cross-entropy.
	Outputs []float32
}

// Width is the number of values of one output.
func (p *Predictions) Width() int {
	if p.N == 0 {
		return 0
	}
	return len(p.Outputs) / p.N
}

// Row returns the output of sample i.
func (p *Predictions) Row(i int) []float32 {
	w := p.Width()
	return p.Outputs[i*w : (i+1)*w]
}

// Classes returns each sample's most likely class: the index of its largest
// output (the first of equals).
func (p *Predictions) Classes() []int {
	c := make([]int, p.N)
	for i := range c {
		row := p.Row(i)
		for j, v := range row {
			if v > row[c[i]] {
				c[i] = j
			}
		}
	}
	return c
}

// Probabilities returns the softmax of each sample's outputs (N rows of
// Width values, each row summing to 1): the class probabilities of a
// network that outputs logits. (A network that ends in its own Softmax
// already outputs probabilities: read Outputs.)
func (p *Predictions) Probabilities() []float32 {
	out := make([]float32, len(p.Outputs))
	w := p.Width()
	for i := range p.N {
		row := p.Row(i)
		top := slices.Max(row)
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v - top))
		}
		for j, v := range row {
			out[i*w+j] = float32(math.Exp(float64(v-top)) / sum)
		}
	}
	return out
}

// Predict runs net over every sample of d in evaluation mode
// (nn.SetTraining(net, false), which it leaves set: Dropout off) and
// returns its outputs on the host. Labels are not read.
func Predict(net nn.Module, d *data.Dataset) (*Predictions, error) {
	if d == nil {
		return nil, errors.New("train: Predict: no dataset")
	}
	return PredictRows(net, d.X, sampleShape(d)...)
}

// PredictRows is Predict for samples in a plain slice: x holds
// len(x)/volume(shape) samples of the given per-sample shape one after
// another (a single sample is x of exactly that volume). For a classifier
// of 28×28 images flattened to rows, shape is 784.
func PredictRows(net nn.Module, x []float32, shape ...int) (*Predictions, error) {
	b, _, err := backendOf(net)
	if err != nil {
		return nil, err
	}
	in := tensor.Shape(slices.Clone(shape))
	w := volume(in)
	if len(shape) == 0 || w <= 0 || slices.ContainsFunc(shape, func(d int) bool { return d <= 0 }) {
		return nil, fmt.Errorf("train: Predict: sample shape %v: want positive dimensions", in)
	}
	if len(x) == 0 {
		return nil, errors.New("train: Predict: no samples")
	}
	if len(x)%w != 0 {
		return nil, fmt.Errorf("train: Predict: %d values are not a whole number of samples of shape %v (%d values each)", len(x), in, w)
	}
	n := len(x) / w
	nn.SetTraining(net, false)
	const batch = 1000
	p := &Predictions{N: n}
	dims := append([]int{min(batch, n)}, in...)
	xt, err := tensor.New(b, dims...)
	if err != nil {
		return nil, err
	}
	defer xt.Free()
	for off := 0; off < n; off += batch {
		m := min(batch, n-off)
		dims[0] = m
		if err := xt.Resize(dims...); err != nil {
			return nil, err
		}
		if err := xt.Set(x[off*w : (off+m)*w]); err != nil {
			return nil, err
		}
		out, err := net.Forward(xt)
		if err != nil {
			return nil, fmt.Errorf("train: Predict: samples %d to %d: %w", off, off+m-1, err)
		}
		if p.Outputs == nil {
			p.Shape = slices.Clone(out.Shape()[1:])
			p.Outputs = make([]float32, 0, n*out.Cols())
		}
		if out.Rows() != m || out.Cols() != volume(p.Shape) {
			return nil, fmt.Errorf("train: Predict: %d samples gave outputs of shape %v, want (%d×%v)", m, out.Shape(), m, p.Shape)
		}
		start := len(p.Outputs)
		p.Outputs = p.Outputs[:start+out.Len()]
		if err := b.Download(p.Outputs[start:], out.Buffer()); err != nil {
			return nil, err
		}
	}
	return p, nil
}
