package nn

import (
	"fmt"

	"github.com/diynn/diynn/tensor"
)

// The optional parts of the module contract. A module implements those it
// needs; containers (Sequential) implement all of them and pass them on, and
// the helpers below do nothing for a module that lacks one.

// TrainingMode is implemented by modules that behave differently while
// training (Dropout, GaussianNoise, and batch normalisation later).
// Modules start in training mode, as in PyTorch; train.Fit sets it for its
// steps and clears it for evaluation, and train.Predict clears it.
type TrainingMode interface {
	SetTraining(training bool)
}

// SetTraining switches m, and every module inside it, to training mode or to
// evaluation mode.
func SetTraining(m Module, training bool) {
	if t, ok := m.(TrainingMode); ok {
		t.SetTraining(training)
	}
}

// Reseeder is implemented by modules that draw random numbers on the
// device (Dropout, GaussianNoise). Reseed restarts the module's stream from
// a seed; between reseeds each Forward in training mode draws fresh values.
// train.Fit reseeds the network before every step from its seed, the epoch
// and the step, so a resumed run draws exactly the masks it would have
// drawn, and a gradient check reseeds before each Forward to see one mask.
type Reseeder interface {
	Reseed(seed uint64)
}

// Reseed reseeds m and every module inside it.
func Reseed(m Module, seed uint64) {
	if r, ok := m.(Reseeder); ok {
		r.Reseed(seed)
	}
}

// Shaper is implemented by modules that can say the shape of their output
// for an input shape without running. Shapes are per sample: they leave out
// the batch dimension, so (1×28×28) is one grey image.
type Shaper interface {
	OutputShape(in tensor.Shape) (tensor.Shape, error)
}

// OutputShape returns the per-sample output shape of m for input shape in,
// or an error naming the module that cannot take it or cannot say.
func OutputShape(m Module, in tensor.Shape) (tensor.Shape, error) {
	s, ok := m.(Shaper)
	if !ok {
		return nil, fmt.Errorf("%v: cannot infer its output shape (it does not implement nn.Shaper)", describe(m))
	}
	return s.OutputShape(in)
}

// describe names a module for messages: its String if it has one, else its
// Go type.
func describe(m Module) string {
	if s, ok := m.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", m)
}

// MixSeed derives the seed of part i of something seeded with seed: one
// step of splitmix64 (Steele et al., 2014) over seed + (i+1)·γ, γ the
// golden-ratio constant. Nearby seeds and indices give unrelated results,
// so Sequential reseeds module i with MixSeed(seed, i) and two Dropout
// layers of one network draw different masks; a container of your own
// should do the same.
func MixSeed(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// BufferHolder is implemented by modules that keep tensors which are not
// trained by an optimizer but belong to the model and its file: PyTorch's
// buffers, such as batch normalisation's running mean and variance. Their
// Param.Grad is nil. Package model saves and loads them with the
// parameters, under the same kind of names ("1.running_mean").
type BufferHolder interface {
	Buffers() []Param
}

// Buffers returns m's buffers, or nil for a module without any.
func Buffers(m Module) []Param {
	if h, ok := m.(BufferHolder); ok {
		return h.Buffers()
	}
	return nil
}
