package model

import (
	"fmt"
	"math"
	"math/bits"
	"strings"

	"github.com/diynn/diynn/internal/bytesize"
)

// Usage says what a model will do, for Estimate.
type Usage struct {
	// Batch is the number of rows of a training step, or of an inference
	// pass when Train is false.
	Batch int
	// Train adds what training needs: optimizer state, the gradients of
	// every layer's input, and the loss gradient.
	Train bool
	// OptimizerSlots is the number of copies of every parameter the
	// optimizer keeps (see OptimizerSlots); only with Train.
	OptimizerSlots int
	// EvalBatch, when training, is the batch of the evaluation passes run
	// between epochs (train.Config.EvalBatch, 1000 by default), which grow
	// every layer's output buffer to that many rows; 0 when there are none.
	EvalBatch int
}

// OptimizerSlots is the number of parameter-sized state tensors that the
// optimizer of a name (as presets and the CLI name them) keeps: Adam and
// AdamW two moments, SGD with momentum one velocity, plain SGD none.
func OptimizerSlots(name string) (int, error) {
	switch name {
	case "sgd":
		return 0, nil
	case "momentum":
		return 1, nil
	case "adam", "adamw":
		return 2, nil
	}
	return 0, fmt.Errorf("optimizer %q: want sgd, momentum, adam or adamw", name)
}

// Footprint is the device memory a model needs, in bytes, by kind.
type Footprint struct {
	Usage     Usage
	Weights   int64 // parameter values
	Gradients int64 // parameter gradients, which Build allocates for every model
	// Buffers are the tensors saved with the weights but not trained:
	// batch norm's running statistics.
	Buffers   int64
	Optimizer int64 // optimizer state
	// Activations are the buffers sized by the batch: each layer's output,
	// when training the gradient of each layer's input and the loss
	// gradient, and the input and target batches; and what layers keep
	// whatever the batch (batch norm's statistics of a batch).
	Activations int64
}

// Total is the sum of the parts.
func (f Footprint) Total() int64 {
	return f.Weights + f.Gradients + f.Buffers + f.Optimizer + f.Activations // Estimate keeps the sum below 2⁶³
}

// String gives the total and its parts, e.g. "8.6 GB (4.3 GB of weights,
// 4.3 GB of gradients, 2.1 MB of activations for batch 128)".
func (f Footprint) String() string {
	parts := []string{bytesize.Format(f.Weights) + " of weights", bytesize.Format(f.Gradients) + " of gradients"}
	if f.Buffers > 0 {
		parts = append(parts, bytesize.Format(f.Buffers)+" of buffers")
	}
	if f.Optimizer > 0 {
		parts = append(parts, bytesize.Format(f.Optimizer)+" of optimizer state")
	}
	batch := fmt.Sprintf("batch %d", f.Usage.Batch)
	if f.Usage.Train && f.Usage.EvalBatch > 0 {
		batch += fmt.Sprintf(", evaluation batch %d", f.Usage.EvalBatch)
	}
	parts = append(parts, bytesize.Format(f.Activations)+" of activations for "+batch)
	return bytesize.Format(f.Total()) + " (" + strings.Join(parts, ", ") + ")"
}

// MemoryError is a model that needs more memory than a limit allows.
type MemoryError struct {
	Footprint Footprint
	Limit     int64
}

func (e *MemoryError) Error() string {
	return fmt.Sprintf("the model needs %v, more than the limit of %s", e.Footprint, bytesize.Format(e.Limit))
}

// Check returns a *MemoryError if the footprint exceeds limit bytes.
func (f Footprint) Check(limit int64) error {
	if f.Total() > limit {
		return &MemoryError{Footprint: f, Limit: limit}
	}
	return nil
}

// Estimate computes, from the plan alone, the memory the model will take on
// its device for u: what package nn allocates (Build: every parameter and
// its gradient, and every buffer; Forward: every layer's output, and when
// training a dropout's mask or a noise layer's noise, inference and
// evaluation passes running in evaluation mode; Backward, through
// nn.TrainStep: the gradient of every layer's input but the first linear
// layer's, which it skips; the optimizer's state; the loss's gradient;
// each layer's share as its LayerDef's Memory says) and the input and
// target batches a trainer holds (targets counted as wide as the output,
// which over-counts class labels). It does not count the dataset, nor a
// GPU backend's own overheads (its context, the scratch of reductions,
// freed buffers its allocator caches). It refuses a batch (the larger of
// Batch and EvalBatch) for which one layer would allocate a tensor of 2³¹
// values or more, naming the layer and the largest batch it takes.
func (p *Plan) Estimate(u Usage) (Footprint, error) {
	if u.Batch <= 0 || u.EvalBatch < 0 || u.OptimizerSlots < 0 {
		return Footprint{}, fmt.Errorf("memory estimate: batch %d, evaluation batch %d and optimizer slots %d: want a positive batch and no negative counts",
			u.Batch, u.EvalBatch, u.OptimizerSlots)
	}
	if !u.Train {
		u.EvalBatch, u.OptimizerSlots = 0, 0
	}
	var c counter
	params := p.NumParams()
	f := Footprint{Usage: u, Weights: c.mul(4, params), Gradients: c.mul(4, params), Buffers: c.mul(4, p.NumBuffers())}
	if u.Train {
		f.Optimizer = c.mul(c.mul(4, int64(u.OptimizerSlots)), params)
	}
	in, out := int64(p.Inputs()), int64(p.Outputs())
	// io is an input batch, its targets, and a loss's value and gradient.
	io := func(rows int64) int64 { return c.add(c.mul(rows, c.add(in, 2*out)), 1) }
	rows := int64(max(u.Batch, u.EvalBatch)) // forward buffers grow to the larger batch
	var values int64
	for _, lp := range p.layers {
		values = c.add(values, c.add(c.mul(rows, lp.Memory.Forward), lp.Memory.Fixed))
		if u.Train { // evaluation passes run in evaluation mode
			values = c.add(values, c.add(c.mul(int64(u.Batch), lp.Memory.ForwardTrain), lp.Memory.FixedTrain))
		}
	}
	if u.Train {
		batch := int64(u.Batch)
		for i, lp := range p.layers {
			back := lp.Memory.Backward
			if i == 0 {
				back = lp.Memory.FirstBackward // nn.Sequential.AccGradParameters: no input gradient
			}
			values = c.add(values, c.mul(batch, back))
		}
		values = c.add(values, io(batch))
		if u.EvalBatch > 0 {
			values = c.add(values, io(int64(u.EvalBatch)))
		}
	} else {
		values = c.add(values, io(int64(u.Batch)))
	}
	f.Activations = c.mul(4, values)
	c.add(c.add(c.add(f.Weights, f.Gradients), f.Buffers), c.add(f.Optimizer, f.Activations))
	if c.overflow {
		return Footprint{}, fmt.Errorf("memory estimate: %q with batch %d needs more than %s", p.Spec, u.Batch, bytesize.Format(math.MaxInt64))
	}
	if err := p.checkLargest(rows); err != nil {
		return Footprint{}, err
	}
	return f, nil
}

// Memory is what the plan's layers allocate per sample when they run as a
// head (LayerDef.MinHeads): in an nn.Sequential whose input gradient is
// computed, so that every layer's Backward counts, the first's too, and
// Largest is the largest tensor of any layer. A layer with heads adds its
// heads' to its own LayerPlan.Memory, as concat does.
func (p *Plan) Memory() Memory {
	var m Memory
	for i, lp := range p.layers {
		l := *lp.Memory
		m.Forward += l.Forward
		m.ForwardTrain += l.ForwardTrain
		m.Backward += l.Backward
		m.Fixed += l.Fixed
		m.FixedTrain += l.FixedTrain
		m.Largest = max(m.Largest, p.largest(i))
	}
	m.FirstBackward = m.Backward
	return m
}

// largest is the number of values per sample of the largest tensor layer i
// allocates: its Memory's Largest, or else the larger of its input and
// output.
func (p *Plan) largest(i int) int64 {
	if per := p.layers[i].Memory.Largest; per > 0 {
		return per
	}
	return max(volume(p.Shapes[i]), volume(p.Shapes[i+1]))
}

// checkLargest refuses a batch of rows samples for which a layer would
// allocate a tensor of 2³¹ values or more (package tensor refuses it, and
// the kernels index with 32-bit ints), naming the layer, the tensor's size
// and the largest batch the layer takes: a convolution on large images
// fits one sample and not a thousand.
func (p *Plan) checkLargest(rows int64) error {
	for i := range p.layers {
		per := p.largest(i)
		if per <= 0 || rows <= math.MaxInt32/per {
			continue
		}
		var c counter
		l := p.Layers[i]
		return fmt.Errorf("memory estimate: %q with batch %d: layer %d (column %d), %v, would allocate a tensor of %s values (%s), more than the 2³¹−1 one tensor holds: it takes batches of at most %d",
			p.Spec, rows, i, l.Pos+1, l, formatNum(float64(rows)*float64(per)), bytesize.Format(c.mul(c.mul(rows, per), 4)), math.MaxInt32/per)
	}
	return nil
}

// counter does non-negative int64 arithmetic, noting overflow.
type counter struct{ overflow bool }

func (c *counter) mul(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		c.overflow = true
		return math.MaxInt64
	}
	return int64(lo)
}

func (c *counter) add(a, b int64) int64 {
	if a > math.MaxInt64-b {
		c.overflow = true
		return math.MaxInt64
	}
	return a + b
}
