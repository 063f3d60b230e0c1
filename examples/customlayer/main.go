// Command customlayer defines a layer of its own, outside the library, and
// uses it as if it were built in: it trains an Iris classifier whose first
// layer is that custom layer, with early stopping on a validation split,
// saves it, and prints predictions. Another run loads the file back —
// rebuilding the custom layer from the file alone — and gives the same
// predictions, to the last bit:
//
//	go run ./examples/customlayer [-backend auto] [-seed 1] [-o FILE]
//	go run ./examples/customlayer -load FILE
//
// # A layer of your own
//
// The layer is Scale, a learned factor per feature: y = x ⊙ s. Everything
// a layer needs is in this file:
//
//   - nn.Module: Forward, Backward (returning the input gradient and adding
//     the parameter gradient, never overwriting it: gradients accumulate)
//     and Params. It runs on any backend because it speaks only to
//     backend kernels, here MulRowVector, Mul and SumRows, and keeps its
//     output buffers between calls (tensor.Ensure), so a training step
//     allocates nothing.
//   - Optional parts of the module contract: nn.Shaper (its output shape
//     without running, so model.New can check the network before training)
//     and nn.ParamGradAccumulator (as the first layer of a network, its
//     input gradient is never read: skip it).
//   - Spec() string, writing itself in the spec language, and one call of
//     model.RegisterLayer (in init) that teaches the spec parser, the
//     planner and model.Load to read scale(N) and build a Scale. With both,
//     model.New derives the network's spec from its modules, Save writes it
//     into the file, and Load rebuilds the network from it: no code of
//     yours runs at load time beyond that registration.
//
// The test beside this file checks Scale's gradients with nntest.Check
// (and shows the checker refusing a Scale whose Backward is wrong), then
// trains, saves, loads the file in a fresh process and compares the
// predictions byte for byte.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/diynn/diynn/backend"
	_ "github.com/diynn/diynn/backend/all"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
	"github.com/diynn/diynn/train"
)

// Scale multiplies every sample by a learned vector s of N factors, one per
// feature: y[i][j] = x[i][j]·s[j]. It is a diagonal Linear layer without a
// bias, written with one elementwise kernel instead of a GEMM. In front of
// a classifier it learns how much each raw feature (here centimetres, of
// different ranges) should count.
type Scale struct {
	N int
	S nn.Param // the factors, named "weight" as PyTorch names a layer's own

	out, dx, prod *tensor.Tensor // kept between calls: no allocation per step
}

// The parts of the module contract that Scale implements; the compiler
// checks them here rather than at the first use.
var (
	_ nn.Module               = (*Scale)(nil)
	_ nn.Shaper               = (*Scale)(nil)
	_ nn.ParamGradAccumulator = (*Scale)(nil)
	_ model.Specer            = (*Scale)(nil)
)

// NewScale returns a Scale of n factors on b, all starting at 1 (the
// identity), with a zero gradient.
func NewScale(b backend.Backend, n int) (*Scale, error) {
	if n <= 0 {
		return nil, fmt.Errorf("Scale(%d): the number of features must be positive", n)
	}
	s, err := tensor.New(b, n)
	if err != nil {
		return nil, fmt.Errorf("Scale(%d): %w", n, err)
	}
	b.Fill(n, 1, s.Buffer())
	g, err := tensor.Zeros(b, n)
	if err != nil {
		s.Free()
		return nil, fmt.Errorf("Scale(%d): %w", n, err)
	}
	return &Scale{N: n, S: nn.Param{Name: "weight", Value: s, Grad: g}}, nil
}

// String names the layer in error messages (nn and nntest use it).
func (s *Scale) String() string { return fmt.Sprintf("Scale(%d)", s.N) }

// Spec writes the layer as the spec language reads it, in the syntax that
// init registers.
func (s *Scale) Spec() string { return fmt.Sprintf("scale(%d)", s.N) }

// OutputShape is the input's shape: any per-sample shape of N values (a
// row of N features, or an image of N pixels) comes out as it went in.
func (s *Scale) OutputShape(in tensor.Shape) (tensor.Shape, error) {
	if n := volume(in); n != s.N {
		return nil, fmt.Errorf("%v: input shape %v has %d values per sample, want %d", s, in, n, s.N)
	}
	return append(tensor.Shape(nil), in...), nil
}

// Forward computes y = x ⊙ s, s broadcast over the rows of the batch.
func (s *Scale) Forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if len(x.Shape()) < 2 || x.Cols() != s.N {
		return nil, fmt.Errorf("%v: input shape %v, want (batch×%d)", s, x.Shape(), s.N)
	}
	b := x.Backend()
	if err := tensor.Ensure(&s.out, b, x.Shape()...); err != nil {
		return nil, fmt.Errorf("%v: %w", s, err)
	}
	b.MulRowVector(x.Rows(), s.N, s.S.Value.Buffer(), x.Buffer(), s.out.Buffer())
	return s.out, nil
}

// Backward returns dL/dx = gradOut ⊙ s and adds dL/ds to the gradient.
func (s *Scale) Backward(x, gradOut *tensor.Tensor) (*tensor.Tensor, error) {
	if err := s.AccGradParameters(x, gradOut); err != nil {
		return nil, err
	}
	b := x.Backend()
	if err := tensor.Ensure(&s.dx, b, x.Shape()...); err != nil {
		return nil, fmt.Errorf("%v: %w", s, err)
	}
	b.MulRowVector(x.Rows(), s.N, s.S.Value.Buffer(), gradOut.Buffer(), s.dx.Buffer())
	return s.dx, nil
}

// AccGradParameters adds dL/ds[j] = Σᵢ gradOut[i][j]·x[i][j] to the
// gradient: the elementwise product into a scratch buffer, then its column
// sums, with beta = 1 so that the gradient accumulates. Sequential calls it
// instead of Backward when Scale is the first layer, saving the input
// gradient's kernel.
func (s *Scale) AccGradParameters(x, gradOut *tensor.Tensor) error {
	if s.out == nil {
		return fmt.Errorf("%v: Backward called before Forward", s)
	}
	if err := tensor.SameShape("Backward: output and gradient", s.out, gradOut); err != nil {
		return fmt.Errorf("%v: %w", s, err)
	}
	b := x.Backend()
	if err := tensor.Ensure(&s.prod, b, x.Shape()...); err != nil {
		return fmt.Errorf("%v: %w", s, err)
	}
	b.Mul(x.Len(), gradOut.Buffer(), x.Buffer(), s.prod.Buffer())
	b.SumRows(x.Rows(), s.N, s.prod.Buffer(), 1, s.S.Grad.Buffer())
	return nil
}

// Params lists the factors.
func (s *Scale) Params() []nn.Param { return []nn.Param{s.S} }

func volume(shape tensor.Shape) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// init registers scale(N) once, for the whole program: after it, specs
// that say scale(4), model.New on a network holding a Scale, and
// model.Load of a file written by either all know the layer.
func init() {
	model.RegisterLayer("scale", model.LayerDef{
		Usage:   "scale(N)",
		MinArgs: 1, MaxArgs: 1,
		// Check runs when a spec is parsed; the accessor's error points at
		// the argument's column.
		Check: func(a model.Args) error {
			_, err := a.At(0).Int(1)
			return err
		},
		// Plan says, without allocating, what the layer gives for an input
		// shape and which parameters Build will create (names and shapes
		// as Params lists them). Refusing a shape here is what lets a spec
		// that does not chain fail before anything is built.
		Plan: func(ctx model.PlanContext, a model.Args) (model.LayerPlan, error) {
			n, _ := a.At(0).Int(1)
			if volume(ctx.In) != n {
				return model.LayerPlan{}, fmt.Errorf("scale(%d) takes %d values per sample but the layer before gives %v", n, n, ctx.In)
			}
			return model.LayerPlan{
				Out:    append(tensor.Shape(nil), ctx.In...),
				Params: []model.ParamShape{{Name: "weight", Shape: []int{n}}},
				// Per sample: the output; the product and the input
				// gradient in Backward; only the product when first.
				Memory: &model.Memory{Forward: int64(n), Backward: 2 * int64(n), FirstBackward: int64(n)},
			}, nil
		},
		// Build makes the module; Load then copies the saved factors in.
		Build: func(ctx model.BuildContext, a model.Args) (nn.Module, error) {
			n, _ := a.At(0).Int(1)
			return NewScale(ctx.Backend, n)
		},
	})
}

func main() {
	name := flag.String("backend", "auto", "auto, cpu, opencl or cuda")
	seed := flag.Uint64("seed", 1, "random seed for the split, the weights and the shuffles")
	out := flag.String("o", filepath.Join(os.TempDir(), "diynn-customlayer.safetensors"), "where to save the trained model")
	load := flag.String("load", "", "load this model file and print its predictions, instead of training")
	flag.Parse()
	if err := run(*name, *seed, *out, *load); err != nil {
		fmt.Fprintln(os.Stderr, "customlayer:", err)
		os.Exit(1)
	}
}

func run(name string, seed uint64, out, load string) error {
	b, skipped, err := backend.OpenAuto(name)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, s := range skipped {
		fmt.Printf("skipped %s\n", s)
	}
	fmt.Printf("backend %s: %s\n", b.Name(), b.Device())
	if load != "" {
		return printFile(os.Stdout, b, load)
	}

	m, hist, err := fit(b, seed, os.Stdout)
	if err != nil {
		return err
	}
	best := hist.Best(0)
	fmt.Printf("trained %d epochs; kept the weights of epoch %d (validation loss %.4f)\n",
		len(hist), best, hist[best-1].EvalLoss)
	factors, err := m.Params()[0].Value.Data()
	if err != nil {
		return err
	}
	fmt.Printf("learned feature scales: %.3f\n", factors)
	// Extra metadata travels in the file: the seed lets -load find the
	// same test split.
	if err := m.Save(out, map[string]string{metaSeed: strconv.FormatUint(seed, 10)}); err != nil {
		return err
	}
	fmt.Printf("saved %s\n", out)
	_, _, test, err := splits(seed)
	if err != nil {
		return err
	}
	if _, err := printModel(os.Stdout, m, test, 6); err != nil {
		return err
	}
	fmt.Printf("go run ./examples/customlayer -load %s prints the same, from the file\n", out)
	return nil
}

// splits returns Iris shuffled by seed into 96 training, 24 validation and
// 30 test samples. The validation split is what early stopping watches;
// the test split is kept out of training entirely.
func splits(seed uint64) (tr, val, test *data.Dataset, err error) {
	all, err := data.Iris()
	if err != nil {
		return nil, nil, nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	rest, test, err := all.Split(0.2, rng)
	if err != nil {
		return nil, nil, nil, err
	}
	tr, val, err = rest.Split(0.2, rng)
	return tr, val, test, err
}

// fit builds the network in Go, wraps it as a model.Model (which derives
// its spec, "scale(4) linear(4,16,xavier) tanh linear(16,3,xavier)", from
// the modules and checks it against them), and trains it with early
// stopping.
func fit(b backend.Backend, seed uint64, progress io.Writer) (*model.Model, train.History, error) {
	tr, val, _, err := splits(seed)
	if err != nil {
		return nil, nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	scale, err1 := NewScale(b, tr.Features)
	l1, err2 := nn.NewLinear(b, tr.Features, 16, nn.InitXavier, rng)
	l2, err3 := nn.NewLinear(b, 16, tr.Classes(), nn.InitXavier, rng)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, nil, err
	}
	m, err := model.New(nn.NewSequential(scale, l1, nn.Tanh(), l2))
	if err != nil {
		return nil, nil, err
	}
	m.Classes = tr.ClassNames // saved in the file's metadata
	hist, err := train.Fit(m, tr, val, train.Config{
		Epochs: 400, Batch: 16, Optimizer: nn.NewAdam(0.01), Seed: seed,
		// Stop when the validation loss has not improved for 25 epochs,
		// and keep the best epoch's weights, not the last one's.
		EarlyStopping: &train.EarlyStopping{Patience: 25},
		EvalName:      "validation",
		// One line every 25 epochs is enough for a run of a few hundred;
		// Config.Progress would print every epoch.
		OnEpoch: func(h train.History) error {
			if e := h[len(h)-1]; e.Epoch%25 == 0 {
				fmt.Fprintf(progress, "epoch %3d  train loss %.4f  validation loss %.4f  accuracy %.1f%%\n",
					e.Epoch, e.TrainLoss, e.EvalLoss, 100*e.EvalAcc)
			}
			return nil
		},
	})
	return m, hist, err
}

// metaSeed is the metadata key under which run saves its seed.
const metaSeed = "customlayer.seed"

// printFile loads a model saved by this program and prints its
// predictions on the test split of the seed in its metadata: what -load
// does. Loading needs only the registration in init: the spec and the
// class names come from the file.
func printFile(w io.Writer, b backend.Backend, path string) error {
	m, f, err := model.Load(b, path)
	if err != nil {
		return err
	}
	seed, err := strconv.ParseUint(f.Metadata[metaSeed], 10, 64)
	if err != nil {
		return fmt.Errorf("%s: metadata %q: %w (not saved by this program?)", path, metaSeed, err)
	}
	_, _, test, err := splits(seed)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "loaded %s\n", path)
	_, err = printModel(w, m, test, test.N)
	return err
}

// printModel prints m's spec, its accuracy on d and its first n
// predictions, and returns all of them.
func printModel(w io.Writer, m *model.Model, d *data.Dataset, n int) (*train.Predictions, error) {
	// Predict puts the network in evaluation mode, runs it in batches on
	// the device and brings the outputs (logits, here) back to the host.
	p, err := train.Predict(m, d)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "spec %q, classes %q\ntest accuracy %.1f%%; predictions:\n", m.Spec, m.Classes, 100*accuracy(p, d))
	return p, writePredictions(w, p, m.Classes, d, n)
}

// writePredictions writes the first n predictions: the class chosen, the
// true one, and the probabilities. Float32 values print in the shortest
// form that reads back as the same float32, so equal text means equal
// bits.
func writePredictions(w io.Writer, p *train.Predictions, classes []string, d *data.Dataset, n int) error {
	chosen, probs := p.Classes(), p.Probabilities()
	for i := range min(n, p.N) {
		_, err := fmt.Fprintf(w, "%3d  %-16s true %-16s p = %v\n", i, className(classes, chosen[i]),
			className(d.ClassNames, int(d.Y[i])), probs[i*p.Width():(i+1)*p.Width()])
		if err != nil {
			return err
		}
	}
	return nil
}

// className is class c's name, or its number when the names are unknown.
func className(names []string, c int) string {
	if c < len(names) {
		return names[c]
	}
	return strconv.Itoa(c)
}

// accuracy is the fraction of d's samples that p classifies right.
func accuracy(p *train.Predictions, d *data.Dataset) float64 {
	right := 0
	for i, c := range p.Classes() {
		if float32(c) == d.Y[i] {
			right++
		}
	}
	return float64(right) / float64(d.N)
}
