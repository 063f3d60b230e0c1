package model

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// run does on a fresh cpu backend what u describes — build, then a training
// step (twice, around an evaluation pass, when u.EvalBatch is set) or an
// inference pass — and returns the bytes the backend holds afterwards.
// Targets are as wide as the output (MSE), as Estimate counts them, or
// class labels (cross-entropy) when labels is set.
func run(t *testing.T, p *Plan, u Usage, labels bool) int64 {
	t.Helper()
	b := cpu.New()
	rng := rand.New(rand.NewPCG(4, 4))
	m, err := p.Build(b, rng)
	if err != nil {
		t.Fatal(err)
	}
	batchOf := func(rows int) (x, target *tensor.Tensor, loss nn.Loss) {
		x, err := tensor.Uniform(b, rng, 0, 1, append([]int{rows}, m.InShape...)...)
		if err != nil {
			t.Fatal(err)
		}
		if labels {
			target, err = tensor.New(b, rows)
			b.Fill(rows, 0, target.Buffer())
			loss = nn.NewCrossEntropyLoss()
		} else {
			target, err = tensor.Uniform(b, rng, 0, 1, append([]int{rows}, m.OutShape...)...)
			loss = nn.MSELoss()
		}
		if err != nil {
			t.Fatal(err)
		}
		return x, target, loss
	}
	x, target, loss := batchOf(u.Batch)
	if !u.Train {
		m.SetTraining(false) // as train.Predict runs it
		out, err := m.Net.Forward(x)
		if err == nil {
			_, err = loss.Forward(out, target)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b.MemStats().LiveBytes
	}
	var opt nn.Optimizer
	switch u.OptimizerSlots {
	case 0:
		opt = nn.NewSGD(1e-3)
	case 1:
		opt = &nn.SGD{LR: 1e-3, Momentum: 0.9}
	case 2:
		opt = nn.NewAdam(1e-3)
	}
	step := func() {
		if _, err := nn.TrainStep(m.Net, loss, opt, x, target); err != nil {
			t.Fatal(err)
		}
	}
	step()
	if u.EvalBatch > 0 {
		ex, et, el := batchOf(u.EvalBatch)
		m.SetTraining(false) // as train.Fit evaluates
		out, err := m.Net.Forward(ex)
		m.SetTraining(true)
		if err == nil {
			_, err = el.Forward(out, et)
		}
		if err != nil {
			t.Fatal(err)
		}
		step()
	}
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return b.MemStats().LiveBytes
}

// Estimate against what the cpu backend actually holds after the same work:
// exact where targets are as wide as the output, and within the labels'
// over-count otherwise.
func TestEstimateMatchesAllocation(t *testing.T) {
	specs := []string{
		"linear(7,5) tanh linear(5,3)",
		"tanh linear(13,11) relu linear(11,2) softmax",
		"linear(9,4) leakyrelu(0.1) tied(0) sigmoid",
		// Dropout keeps a mask and its output, noise its output; flatten
		// and a layer at 0 nothing; a first dropout computes its input's
		// gradient (it has no AccGradParameters).
		"linear(7,5) dropout(0.5) relu linear(5,3)",
		"dropout(0.25) gaussiannoise(0.1) flatten linear(9,4) leakyrelu(0.1) dropout(0) tied(3) gaussiannoise(0) sigmoid",
		"gaussiannoise(0.5) linear(7,33) dropout(0.1) tanh linear(33,2) softmax",
		Presets["fmnist-relu"].Spec,
		Presets["ae2"].Spec,
	}
	images := imageSpecs
	if !testing.Short() {
		for _, name := range []string{"fmnist-cnn", "conv-ae"} { // mnist-cnn is fmnist-cnn's network
			images = append(images, planCase{Presets[name].Spec, Presets[name].Input})
		}
	}
	var plans []*Plan
	for _, spec := range specs {
		p, err := NewPlan(spec)
		if err != nil {
			t.Fatal(err)
		}
		plans = append(plans, p)
	}
	for _, c := range images {
		p, err := c.plan()
		if err != nil {
			t.Fatal(err)
		}
		plans = append(plans, p)
	}
	usages := []Usage{
		{Batch: 1, Train: true, OptimizerSlots: 2},
		{Batch: 7, Train: true, OptimizerSlots: 1},
		{Batch: 33, Train: true, OptimizerSlots: 0},
		{Batch: 7, Train: true, OptimizerSlots: 2, EvalBatch: 33},
		{Batch: 33, Train: true, OptimizerSlots: 2, EvalBatch: 7},
		{Batch: 1},
		{Batch: 33},
	}
	for _, p := range plans {
		spec := p.Spec
		for _, u := range usages {
			f, err := p.Estimate(u)
			if err != nil {
				t.Fatal(err)
			}
			for _, labels := range []bool{false, true} {
				if labels && p.Outputs() < 2 {
					continue
				}
				live := run(t, p, u, labels)
				ratio := float64(f.Total()) / float64(live)
				t.Logf("%-60.60s %+v labels=%-5v estimate %9d live %9d ratio %.4f", spec, u, labels, f.Total(), live, ratio)
				lo, hi := 1.0, 1.0
				if labels {
					hi = 1.5
				}
				if ratio < lo || ratio > hi {
					t.Errorf("%q %+v labels=%v: estimate %d bytes (%v), the backend holds %d: ratio %.3f, want %.1f to %.1f",
						spec, u, labels, f.Total(), f, live, ratio, lo, hi)
				}
			}
		}
	}
}

func TestEstimateParts(t *testing.T) {
	// 8 × linear(16384,16384): the report that ended in an out-of-memory crash.
	p, err := NewPlan(strings.TrimSpace(strings.Repeat("linear(16384,16384) ", 8)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.Estimate(Usage{Batch: 128, Train: true, OptimizerSlots: 2})
	if err != nil {
		t.Fatal(err)
	}
	params := int64(8 * (16384*16384 + 16384))
	if f.Weights != 4*params || f.Gradients != 4*params || f.Optimizer != 8*params {
		t.Errorf("footprint %+v, want %d bytes of weights and gradients and %d of Adam state", f, 4*params, 8*params)
	}
	// Outputs of 8 layers, input gradients of 7, input, target, loss gradient.
	if want := int64(4 * (128*16384*(8+7+3) + 1)); f.Activations != want {
		t.Errorf("activations %d, want %d", f.Activations, want)
	}
	want := "the model needs 34.5 GB (8.6 GB of weights, 8.6 GB of gradients, 17.2 GB of optimizer state, 151.0 MB of activations for batch 128), more than the limit of 8.0 GB"
	err = f.Check(8e9)
	var me *MemoryError
	if err == nil || err.Error() != want || !errors.As(err, &me) || me.Limit != 8e9 {
		t.Errorf("Check(8e9) = %v\nwant %s", err, want)
	}
	if err := f.Check(f.Total()); err != nil {
		t.Errorf("Check(total) = %v", err)
	}
	if err := f.Check(f.Total() - 1); err == nil {
		t.Error("Check(total-1) passed")
	}
	// Inference keeps no optimizer state and no input gradients.
	g, _ := p.Estimate(Usage{Batch: 128, OptimizerSlots: 2, EvalBatch: 1000})
	if g.Optimizer != 0 || g.Activations != 4*(128*16384*(8+3)+1) {
		t.Errorf("inference footprint %+v", g)
	}
	if s := g.String(); !strings.Contains(s, "for batch 128)") || strings.Contains(s, "optimizer") {
		t.Errorf("String() = %q", s)
	}
}

func TestEstimateErrors(t *testing.T) {
	p, err := NewPlan("linear(16384,16384) relu linear(16384,16384)")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		u    Usage
		want string
	}{
		{Usage{Batch: 0}, "positive batch"},
		{Usage{Batch: -3, Train: true}, "positive batch"},
		{Usage{Batch: 1, EvalBatch: -1, Train: true}, "no negative"},
		{Usage{Batch: 1, OptimizerSlots: -1, Train: true}, "no negative"},
		{Usage{Batch: math.MaxInt64 / 4, Train: true}, "needs more than 9.2 EB"},
		{Usage{Batch: 1 << 50}, "needs more than"},
		{Usage{Batch: 1, Train: true, OptimizerSlots: math.MaxInt64 / 8}, "needs more than"},
	} {
		if _, err := p.Estimate(c.u); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Estimate(%+v) = %v, want an error mentioning %q", c.u, err, c.want)
		}
	}
}

// A batch for which a layer would allocate a tensor of 2³¹ values or more,
// which package tensor refuses and no kernel indexes, is refused by
// Estimate, before anything is allocated, naming the layer, the size and
// the largest batch it takes; that batch is exactly the largest whose
// convolution geometry the kernels accept.
func TestEstimateRefusesTensorsTooLarge(t *testing.T) {
	for _, c := range []struct {
		spec    string
		in      tensor.Shape
		u       Usage
		layer   int // of the convolution, whose geometry bounds the batch; -1 for none
		want    string
		largest int
	}{
		// Its output, 64×1022×1022 a sample, passes 2³¹ values at 33.
		{"conv(1,64,3) relu", tensor.Shape{1, 1024, 1024}, Usage{Batch: 128, Train: true, OptimizerSlots: 2}, 0,
			`layer 0 (column 1), conv(1,64,3), would allocate a tensor of 8556412928 values (34.2 GB), more than the 2³¹−1 one tensor holds: it takes batches of at most 32`, 32},
		// Its column matrix, 510×510×9 a sample, at the evaluation batch.
		{"relu conv(1,8,3)", tensor.Shape{1, 512, 512}, Usage{Batch: 1, Train: true, EvalBatch: 1000}, 1,
			"layer 1 (column 6), conv(1,8,3), would allocate a tensor of 2340900000 values", 917},
		// A transposed convolution's column matrix, 64×64×(8·3·3) a sample.
		{"convtranspose(2,8,3,stride=2)", tensor.Shape{2, 64, 64}, Usage{Batch: 30000}, 0,
			"layer 0 (column 1), convtranspose(2,8,3,stride=2), would allocate", 7281},
		// Any layer: its output or its input.
		{"linear(784,10)", nil, Usage{Batch: 1 << 22}, -1, "linear(784,10), would allocate a tensor of 3288334336 values", math.MaxInt32 / 784},
	} {
		var p *Plan
		var err error
		if c.in == nil {
			p, err = NewPlan(c.spec)
		} else {
			p, err = NewPlanFor(c.spec, c.in)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Estimate(c.u); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s for %v, %+v: Estimate = %v\nwant an error containing %q", c.spec, c.in, c.u, err, c.want)
		}
		for _, n := range []int{c.largest, c.largest + 1} {
			_, err := p.Estimate(Usage{Batch: n})
			if (err == nil) != (n == c.largest) {
				t.Errorf("%s for %v: Estimate at batch %d: %v", c.spec, c.in, n, err)
			}
			if c.layer < 0 {
				continue
			}
			// The kernels' own bound (nn checks it at Forward) agrees.
			l, in := p.Layers[c.layer], p.Shapes[c.layer]
			k, s := int(l.Args[2]), 1
			for _, a := range l.Named {
				if a.Key == "stride" {
					s = int(a.Num)
				}
			}
			g := backend.ConvGeom{N: n, C: in[0], H: in[1], W: in[2], KH: k, KW: k, StrideH: s, StrideW: s}
			if l.Kind == "convtranspose" { // the convolution it transposes, from its output
				out := p.Shapes[c.layer+1]
				g.C, g.H, g.W = out[0], out[1], out[2]
			}
			err = g.Check()
			if out := p.Shapes[c.layer+1]; err == nil && int64(n)*volume(out) > math.MaxInt32 { // what tensor.New refuses
				err = errors.New("the output is too large")
			}
			if (err == nil) != (n == c.largest) {
				t.Errorf("%s: batch %d, ConvGeom %v: %v", c.spec, n, g, err)
			}
		}
	}
}

func TestOptimizerSlots(t *testing.T) {
	for name, want := range map[string]int{"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2} {
		if got, err := OptimizerSlots(name); err != nil || got != want {
			t.Errorf("OptimizerSlots(%q) = %d, %v; want %d", name, got, err, want)
		}
	}
	if _, err := OptimizerSlots("lbfgs"); err == nil || !strings.Contains(err.Error(), `"lbfgs"`) {
		t.Errorf("OptimizerSlots(lbfgs): %v", err)
	}
}

func TestSaveRefusesNonFiniteWeights(t *testing.T) {
	m, err := Build(cpu.New(), "linear(3,2)", rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := m.Save(path, nil); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	p := m.Net.Params()[0]
	v, _ := p.Value.Data()
	v[4] = float32(math.NaN())
	p.Value.Set(v)
	if err := m.Save(path, nil); err == nil || !strings.Contains(err.Error(), p.Name+"[4] is NaN") {
		t.Errorf("Save of a NaN weight: %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, good) {
		t.Error("the good file was replaced")
	}
}
