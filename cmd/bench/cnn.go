package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
	"github.com/diynn/diynn/train"
)

// cnnSpec is fmnist-cnn's network, used where model.Presets has no such
// preset: conv blocks with batch norm and max pooling, then two linear
// layers with dropout.
const cnnSpec = "conv(1,32,3,pad=1) batchnorm2d(32) relu maxpool(2) conv(32,64,3,pad=1) batchnorm2d(64) relu maxpool(2) " +
	"flatten dropout(0.25) linear(3136,128) relu dropout(0.25) linear(128,10)"

// resolveSpec returns the spec of a preset, of fmnist-cnn (built in when
// the preset list lacks it) or name itself, taken as a spec.
func resolveSpec(name string) string {
	if p, ok := model.Presets[name]; ok {
		return p.Spec
	}
	if name == "fmnist-cnn" {
		return cnnSpec
	}
	return name
}

// parseDims parses a per-sample shape written 1x28x28.
func parseDims(s string) (tensor.Shape, error) {
	var out tensor.Shape
	for _, f := range strings.Split(s, "x") {
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("shape %q: %q is not a positive integer", s, f)
		}
		out = append(out, v)
	}
	return out, nil
}

// specCmd prints the spec a model name resolves to, so that the PyTorch
// peer (bench/torch_cnn.py --spec) builds the network the benchmark runs.
func specCmd(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: bench spec PRESET|SPEC")
	}
	fmt.Println(resolveSpec(args[0]))
	return nil
}

// timeCalls returns the median time of one call of fn over repeats
// timings after a warm-up call. Each timing runs enough calls to last
// about 20 ms, so that layers of a few microseconds are not timer noise,
// and ends with a wait for the device.
func timeCalls(b backend.Backend, repeats int, fn func() error) (time.Duration, error) {
	once := func() error {
		if err := fn(); err != nil {
			return err
		}
		return b.Sync()
	}
	if err := once(); err != nil { // warm-up: buffers sized, caches filled
		return 0, err
	}
	start := time.Now()
	if err := once(); err != nil {
		return 0, err
	}
	calls := int(min(1000, max(1, 20*time.Millisecond/max(time.Since(start), time.Microsecond))))
	d, err := median(repeats, func() error {
		for i := 0; i < calls; i++ {
			if err := fn(); err != nil {
				return err
			}
		}
		return b.Sync()
	})
	return d / time.Duration(calls), err
}

func convCmd(args []string) error {
	fs := flag.NewFlagSet("conv", flag.ExitOnError)
	name := fs.String("backend", "all", "backend to measure, or all")
	repeats := fs.Int("repeats", 9, "timings per layer and pass (the median is reported)")
	batch := fs.Int("batch", 128, "mini-batch size")
	modelName := fs.String("model", "fmnist-cnn", "preset or spec whose convolution, pooling and batch-norm layers are measured")
	input := fs.String("input", "1x28x28", "the network's per-sample input shape")
	gemms := fs.String("gemm", "", "cpu backend: comma-separated SGEMMs to compare, or all; default: the build's")
	fs.Parse(args)
	if *batch <= 0 || *repeats <= 0 {
		return fmt.Errorf("-batch and -repeats must be positive")
	}
	in, err := parseDims(*input)
	if err != nil {
		return err
	}
	plan, err := model.NewPlanFor(resolveSpec(*modelName), in)
	if err != nil {
		return err
	}
	bs, err := backends(*name, *gemms)
	if err != nil {
		return err
	}
	fmt.Printf("Layers of %s, batch %d: milliseconds per call, median of %d, GOMAXPROCS=%d\n\n", *modelName, *batch, *repeats, runtime.GOMAXPROCS(0))
	fmt.Printf("forward; backward: input and parameter gradients (2× forward's FLOPs for a convolution); wgrad (convolutions): parameter gradients alone, as a network's first layer runs (1×).\n\n")
	fmt.Printf("| backend | device | layer | input | pass | ms | GFLOP/s |\n|---|---|---|---|---|---|---|\n")
	for _, b := range bs {
		if err := layerTimes(b, plan, *batch, *repeats); err != nil {
			return fmt.Errorf("%s: %w", b.Name(), err)
		}
	}
	return nil
}

// layerTimes builds the planned network on b and times the forward and
// backward passes of each of its image layers (convolution, pooling, batch
// norm) on its own, on random input of the shape the plan gives it.
func layerTimes(b backend.Backend, plan *model.Plan, batch, repeats int) error {
	rng := rand.New(rand.NewPCG(5, 5))
	m, err := plan.Build(b, rng)
	if err != nil {
		return err
	}
	for i, mod := range m.Net.Modules {
		var flops float64
		switch l := mod.(type) {
		case *nn.Conv2D:
			out := plan.Shapes[i+1]
			flops = 2 * float64(batch) * float64(out[1]*out[2]) * float64(l.Out*l.In*l.K*l.K)
		case *nn.MaxPool2D, *nn.AvgPool2D, *nn.BatchNorm:
		default:
			continue
		}
		if len(plan.Shapes[i]) != 3 {
			continue // batchnorm1d
		}
		xs := append(tensor.Shape{batch}, plan.Shapes[i]...)
		gs := append(tensor.Shape{batch}, plan.Shapes[i+1]...)
		x, err1 := tensor.Uniform(b, rng, -1, 1, xs...)
		g, err2 := tensor.Uniform(b, rng, -1, 1, gs...)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		passes := []struct {
			name   string
			factor float64
			fn     func() error
		}{
			{"forward", 1, func() error { _, err := mod.Forward(x); return err }},
			{"backward", 2, func() error { _, err := mod.Backward(x, g); return err }},
		}
		if acc, ok := mod.(nn.ParamGradAccumulator); ok && flops > 0 {
			passes = append(passes, struct {
				name   string
				factor float64
				fn     func() error
			}{"wgrad", 1, func() error { return acc.AccGradParameters(x, g) }})
		}
		label := describe(mod)
		for _, p := range passes {
			if _, err := mod.Forward(x); err != nil { // what the backward passes read
				return err
			}
			d, err := timeCalls(b, repeats, p.fn)
			if err != nil {
				return fmt.Errorf("%s %s: %w", label, p.name, err)
			}
			rate := "-"
			if flops > 0 {
				rate = fmt.Sprintf("%.1f", p.factor*flops/d.Seconds()/1e9)
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %.3f | %s |\n", b.Name(), b.Device(), label, shapeText(xs), p.name, d.Seconds()*1e3, rate)
		}
		x.Free()
		g.Free()
	}
	return b.Err()
}

// describe names a layer as its spec does, conv(1,32,3,pad=1).
func describe(mod nn.Module) string {
	if s, ok := mod.(model.Specer); ok {
		return s.Spec()
	}
	return fmt.Sprint(mod)
}

func shapeText(s tensor.Shape) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, "×")
}

// epochRun is one training epoch over synthetic data resident on the
// device: a random permutation uploaded once per epoch, each mini-batch
// gathered on the device by it, the network reseeded before every step as
// train.Fit does (Dropout draws fresh masks), the loss read once at the
// end. Its step allocates nothing once the first has sized every buffer
// (TestCNNEpochStepAllocatesNothing). Full batches run through a
// train.StepGraph, as in train.Fit: on CUDA one captured graph a step
// (DIYNN_CUDA_GRAPH=0 turns it off), elsewhere eagerly.
type epochRun struct {
	b                           backend.Backend
	net                         nn.Module
	loss                        nn.Loss
	opt                         nn.Optimizer
	data, targets, order, x, y  *tensor.Tensor
	dims                        []int // (n, sample shape...), n set per batch
	width, samples, batch, step int
	perm                        []float32
	rng                         *rand.Rand
	last                        *tensor.Tensor
	graph                       *train.StepGraph
}

// newEpochRun draws samples inputs of shape sample, uniform in [0, 1), and
// class labels below classes, on b.
func newEpochRun(b backend.Backend, net nn.Module, opt nn.Optimizer, sample tensor.Shape, classes, samples, batch int, rng *rand.Rand) (*epochRun, error) {
	if samples <= 0 || batch <= 0 {
		return nil, fmt.Errorf("-samples and -batch must be positive")
	}
	width := 1
	for _, d := range sample {
		width *= d
	}
	r := &epochRun{b: b, net: net, loss: nn.NewCrossEntropyLoss(), opt: opt, width: width, samples: samples, batch: batch,
		dims: append([]int{batch}, sample...), perm: make([]float32, samples), rng: rng, graph: train.NewStepGraph(b)}
	labels := make([]float32, samples)
	for i := range labels {
		labels[i] = float32(rng.IntN(classes))
	}
	var err1, err2, err3, err4, err5 error
	r.data, err1 = tensor.Uniform(b, rng, 0, 1, samples, width)
	r.targets, err2 = tensor.FromSlice(b, labels, samples, 1)
	r.x, err3 = tensor.New(b, r.dims...)
	r.y, err4 = tensor.New(b, batch)
	r.order, err5 = tensor.New(b, samples)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, err
	}
	return r, nil
}

// shuffle uploads a fresh permutation of the samples.
func (r *epochRun) shuffle() {
	for i, p := range r.rng.Perm(r.samples) {
		r.perm[i] = float32(p)
	}
	r.b.Upload(r.order.Buffer(), r.perm)
}

// trainBatch gathers the batch at off in the permutation and trains on it.
func (r *epochRun) trainBatch(off int) error {
	n := min(r.batch, r.samples-off)
	r.dims[0] = n
	if err := r.x.Resize(r.dims...); err != nil {
		return err
	}
	if err := r.y.Resize(n); err != nil {
		return err
	}
	r.b.GatherRows(n, r.width, r.data.Buffer(), r.order.Buffer(), off, r.x.Buffer())
	r.b.GatherRows(n, 1, r.targets.Buffer(), r.order.Buffer(), off, r.y.Buffer())
	r.step++
	nn.Reseed(r.net, uint64(r.step))
	var err error
	r.last, err = nn.TrainStep(r.net, r.loss, r.opt, r.x, r.y)
	return err
}

// epoch trains one epoch and reads the last loss (one synchronisation).
func (r *epochRun) epoch() error {
	r.shuffle()
	for off := 0; off < r.samples; off += r.batch {
		var err error
		if off+r.batch <= r.samples {
			err = r.graph.Run(func() error { return r.trainBatch(off) })
		} else {
			err = r.trainBatch(off) // the short last batch: another shape
		}
		if err != nil {
			return err
		}
	}
	v, err := r.last.Data()
	if err != nil {
		return err
	}
	if v[0] != v[0] {
		return errors.New("loss is NaN")
	}
	return nil
}

// modelEpochRun builds the preset or spec name for per-sample inputs of
// shape in on b and prepares its epoch, with Adam (or SGD with momentum 0.9
// when optim is "sgd") at rate lr.
func modelEpochRun(b backend.Backend, name string, in tensor.Shape, optim string, lr float64, samples, batch int) (*epochRun, error) {
	plan, err := model.NewPlanFor(resolveSpec(name), in)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(7, 7))
	m, err := plan.Build(b, rng)
	if err != nil {
		return nil, err
	}
	var opt nn.Optimizer
	switch optim {
	case "adam":
		opt = nn.NewAdam(lr)
	case "sgd":
		opt = &nn.SGD{LR: lr, Momentum: 0.9}
	default:
		return nil, fmt.Errorf("-optim %q: want adam or sgd", optim)
	}
	return newEpochRun(b, m.Net, opt, slices.Clone(in), plan.Outputs(), samples, batch, rng)
}
