// Command denoise trains a denoising autoencoder: a network that sees
// damaged images and learns to give back the clean ones. It uses
// Fashion-MNIST when the files are at hand ($DIYNN_DATA or the user cache;
// it downloads nothing) and otherwise a synthetic set of images of boxes,
// so that it runs anywhere:
//
//	go run ./examples/denoise [-backend auto] [-n 4000] [-epochs N] [-figure out.png]
//
// It prints the binary cross-entropy of the reconstructions of clean test
// images before and after training.
//
// # Three kinds of noise, and where each lives
//
//   - Masking noise, in the batch hook (train.Config.Transform): every
//     training batch is gathered on the device, and the hook zeroes 30% of
//     its pixels, drawing the mask with backend.Random and applying it with
//     backend.Mul, then returns the damaged batch as the network's input
//     and the clean batch as the loss's target. Nothing is copied to the
//     host; the hook keeps its buffer between batches, so a step allocates
//     nothing.
//   - Additive Gaussian noise, a layer of the network
//     (gaussiannoise(0.1), nn.GaussianNoise).
//   - Dropout on the hidden code (dropout(0.1), nn.Dropout), which keeps
//     the decoder from leaning on any single unit.
//
// The two layers act only in training mode. train.Fit switches the network
// to evaluation mode for its evaluation passes, and Predict and
// EvaluateReconstruction do the same, so the losses printed are those of
// the clean network on clean images, and evaluating twice gives the same
// number (the test beside this file checks both).
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/diynn/diynn/backend"
	_ "github.com/diynn/diynn/backend/all"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/figures"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
	"github.com/diynn/diynn/train"
)

func main() {
	var o options
	flag.StringVar(&o.backend, "backend", "auto", "auto, cpu, opencl or cuda")
	flag.IntVar(&o.epochs, "epochs", 0, "passes over the training images (0: 3 for Fashion-MNIST, 15 for the quicker synthetic images)")
	flag.IntVar(&o.n, "n", 4000, "training images (a random subset); a quarter as many test images")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed for the data, the weights and the noise")
	flag.StringVar(&o.dataDir, "data-dir", "", "directory with the Fashion-MNIST files (default $DIYNN_DATA, then the user cache)")
	flag.BoolVar(&o.synthetic, "synthetic", false, "use the synthetic images even when Fashion-MNIST is at hand")
	flag.StringVar(&o.figure, "figure", "", "write a PNG of damaged test images and their reconstructions here")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "denoise:", err)
		os.Exit(1)
	}
}

type options struct {
	backend       string
	dataDir       string
	epochs, n     int
	seed          uint64
	synthetic     bool
	figure        string
	hidden, batch int // 0: 128 and 50
}

// maskKeep is the fraction of pixels the masking noise keeps.
const maskKeep = 0.7

func run(o options, w io.Writer) error {
	b, skipped, err := backend.OpenAuto(o.backend)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, s := range skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	fmt.Fprintf(w, "backend %s: %s\n", b.Name(), b.Device())
	r, err := fit(b, o, w)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "clean test images, binary cross-entropy per pixel: %.4f before training, %.4f after\n", r.before, r.after)
	if o.figure != "" {
		if err := figure(o.figure, r, o.seed); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s: damaged test images above, their reconstructions below\n", o.figure)
	}
	return nil
}

// result is what fit gives back.
type result struct {
	m             *model.Model
	train, test   *data.Dataset
	before, after float64 // clean test BCE
}

// fit loads the images, builds the autoencoder and trains it with the
// masking hook.
func fit(b backend.Backend, o options, w io.Writer) (*result, error) {
	if o.hidden == 0 {
		o.hidden = 128
	}
	if o.batch == 0 {
		o.batch = 50
	}
	tr, test, err := images(o, w)
	if err != nil {
		return nil, err
	}
	if o.epochs == 0 {
		o.epochs = 3
		if tr.Name == "boxes" {
			o.epochs = 15
		}
	}
	fmt.Fprintf(w, "%s: %d training and %d test images of %v\n", tr.Name, tr.N, test.N, tr.SampleShape())

	// The spec starts with flatten, which implies no input shape: the plan
	// takes it from the data, (1, H, W), and checks that every layer
	// chains before anything is allocated.
	f := tr.Features
	spec := fmt.Sprintf("flatten gaussiannoise(0.1) linear(%d,%d) relu dropout(0.1) linear(%d,%d) sigmoid", f, o.hidden, o.hidden, f)
	p, err := model.NewPlanFor(spec, tr.SampleShape())
	if err != nil {
		return nil, err
	}
	m, err := p.Build(b, rand.New(rand.NewPCG(o.seed, 1)))
	if err != nil {
		return nil, err
	}
	r := &result{m: m, train: tr, test: test}
	// Before training, the sigmoid outputs are near 1/2 everywhere: about
	// ln 2 = 0.69 whatever the image.
	if r.before, err = train.EvaluateReconstruction(m, test); err != nil {
		return nil, err
	}
	mask := newMasker(b, maskKeep, o.seed)
	_, err = train.Fit(m, tr, test, train.Config{
		Task:      train.Reconstruct, // the loss: binary cross-entropy against the target
		Epochs:    o.epochs,
		Batch:     o.batch,
		Optimizer: nn.NewAdam(2e-3),
		Seed:      o.seed, // also reseeds the noise and dropout layers before every step
		Transform: mask.transform,
		// No EvalTransform: Fit's evaluation gives the network clean test
		// images, in evaluation mode, and compares with the same images.
		EvalName: "clean test",
		Progress: w,
	})
	if err != nil {
		return nil, err
	}
	r.after, err = train.EvaluateReconstruction(m, test)
	return r, err
}

// masker is the batch hook: masking noise on the device.
type masker struct {
	b            backend.Backend
	keep         float32
	seed, offset uint64 // the mask stream: each batch continues it
	noisy        *tensor.Tensor
	// target is the batch x viewed as rows, the network output's shape;
	// it views src, the batch tensor Fit passes (the same at every step).
	src, target *tensor.Tensor
}

func newMasker(b backend.Backend, keep float64, seed uint64) *masker {
	return &masker{b: b, keep: float32(keep), seed: nn.MixSeed(seed, 0x6d61736b)} // "mask"
}

// transform returns x with a fraction 1-keep of its values set to 0, as the
// network's input, and x itself, as rows, as the target.
func (m *masker) transform(x, _ *tensor.Tensor) (input, target *tensor.Tensor, err error) {
	n := x.Len()
	if err := tensor.Ensure(&m.noisy, m.b, x.Shape()...); err != nil {
		return nil, nil, err
	}
	// Bernoulli values: 1 with probability keep, else 0 (not 1/keep: masking
	// noise deletes pixels, it does not rescale the rest as Dropout does).
	// The product goes into the mask's own buffer.
	m.b.Random(backend.Bernoulli, n, m.seed, m.offset, m.keep, 1, m.noisy.Buffer())
	m.b.Mul(n, x.Buffer(), m.noisy.Buffer(), m.noisy.Buffer())
	// The next batch draws the values after these. (A run that resumes from
	// a checkpoint would derive the offset from the epoch and step instead,
	// to draw the masks it would have drawn.)
	m.offset += uint64(n)
	// The target: no copy, a view of x as (batch × pixels), made once.
	if m.src != x || m.target == nil {
		if m.target, err = x.View(x.Rows(), x.Cols()); err != nil {
			return nil, nil, err
		}
		m.src = x
	} else if err := m.target.Resize(x.Rows(), x.Cols()); err != nil {
		return nil, nil, err
	}
	return m.noisy, m.target, nil
}

// images returns a random subset of o.n training and o.n/4 test images of
// Fashion-MNIST if it is at hand, else as many synthetic ones.
func images(o options, w io.Writer) (tr, test *data.Dataset, err error) {
	nTest := max(o.n/4, 1)
	if !o.synthetic {
		tr, test, err := data.Load("fashion-mnist", data.Options{Dir: o.dataDir, NoDownload: true})
		if err == nil {
			rng := rand.New(rand.NewPCG(o.seed, 2))
			return tr.Subset(rng.Perm(tr.N)[:min(o.n, tr.N)]), test.Subset(rng.Perm(test.N)[:min(nTest, test.N)]), nil
		}
		fmt.Fprintf(w, "no Fashion-MNIST: %v\nusing synthetic images instead\n", err)
	}
	rng := rand.New(rand.NewPCG(o.seed, 3))
	return boxes(rng, o.n), boxes(rng, nTest), nil
}

// boxes returns n grey 16×16 images, each of one to three filled
// rectangles of random size, place and brightness on a black background,
// labelled by their number of rectangles. They have what an autoencoder
// can learn, straight edges and flat areas, and what masking destroys.
func boxes(rng *rand.Rand, n int) *data.Dataset {
	const side = 16
	d := &data.Dataset{Name: "boxes", N: n, Features: side * side, Shape: []int{1, side, side},
		X: make([]float32, n*side*side), Y: make([]float32, n), ClassNames: []string{"1 box", "2 boxes", "3 boxes"}}
	for i := range n {
		k := 1 + rng.IntN(3)
		d.Y[i] = float32(k - 1)
		img := d.Row(i)
		for range k {
			w, h := 3+rng.IntN(8), 3+rng.IntN(8)
			x0, y0 := rng.IntN(side-w+1), rng.IntN(side-h+1)
			v := float32(0.6 + 0.4*rng.Float64())
			for y := y0; y < y0+h; y++ {
				for x := x0; x < x0+w; x++ {
					img[y*side+x] = max(img[y*side+x], v)
				}
			}
		}
	}
	return d
}

// figure draws eight test images damaged by masking noise (drawn on the
// host here: this is not the training loop) over the network's
// reconstructions of them.
func figure(path string, r *result, seed uint64) error {
	const n = 8
	shape := r.test.SampleShape()
	f := r.test.Features
	rng := rand.New(rand.NewPCG(seed, 4))
	damaged := make([]float32, 0, n*f)
	for i := range min(n, r.test.N) {
		for _, v := range r.test.Row(i) {
			if rng.Float32() >= maskKeep {
				v = 0
			}
			damaged = append(damaged, v)
		}
	}
	p, err := train.PredictRows(r.m, damaged, shape...)
	if err != nil {
		return err
	}
	in, out, labels := make([][]float32, p.N), make([][]float32, p.N), make([]string, p.N)
	for i := range p.N {
		in[i], out[i] = damaged[i*f:(i+1)*f], p.Row(i)
		labels[i] = r.test.ClassNames[int(r.test.Y[i])]
	}
	return figures.ReconstructionGrid(path, in, out, labels, shape[len(shape)-1], shape[len(shape)-2], 3)
}
