// Command dots trains a small classifier on a synthetic 2-D problem — points
// in a checkerboard of 2×2 squares, with Gaussian noise — on the best
// backend available, and prints the loss and accuracy as it learns.
//
//	go run ./examples/dots [-backend auto] [-epochs 30] [-seed 1]
//
// It is the smallest complete use of diynn: a device-resident dataset,
// mini-batches gathered on the device, a Sequential network, a loss, an
// optimizer and a learning-rate schedule, in a loop that you can read.
package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/diynn/diynn/backend"
	_ "github.com/diynn/diynn/backend/all"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

func main() {
	name := flag.String("backend", "auto", "auto, cpu, opencl or cuda")
	epochs := flag.Int("epochs", 30, "passes over the training set")
	seed := flag.Uint64("seed", 1, "random seed for data and weights")
	flag.Parse()
	if err := run(*name, *epochs, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "dots:", err)
		os.Exit(1)
	}
}

// checkerboard returns n points in [-1,1]² labelled by the colour of their
// square on a 2×2 board, with noise of standard deviation 0.05.
func checkerboard(rng *rand.Rand, n int) (xs, ys []float32) {
	xs, ys = make([]float32, 2*n), make([]float32, n)
	for i := 0; i < n; i++ {
		a, b := rng.Float64()*2-1, rng.Float64()*2-1
		if a*b > 0 {
			ys[i] = 1
		}
		xs[2*i] = float32(a + 0.05*rng.NormFloat64())
		xs[2*i+1] = float32(b + 0.05*rng.NormFloat64())
	}
	return xs, ys
}

func run(name string, epochs int, seed uint64) error {
	b, skipped, err := backend.OpenAuto(name)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, s := range skipped {
		fmt.Printf("skipped %s\n", s)
	}
	fmt.Printf("backend %s: %s\n", b.Name(), b.Device())

	rng := rand.New(rand.NewPCG(seed, 0))
	const train, test, batch = 4000, 1000, 50
	trX, trY := checkerboard(rng, train)
	teX, teY := checkerboard(rng, test)
	xTrain, err1 := tensor.FromSlice(b, trX, train, 2)
	yTrain, err2 := tensor.FromSlice(b, trY, train, 1)
	xTest, err3 := tensor.FromSlice(b, teX, test, 2)
	pred, err4 := tensor.New(b, test)
	l1, err5 := nn.NewLinear(b, 2, 32, nn.InitDefault, rng)
	l2, err6 := nn.NewLinear(b, 32, 32, nn.InitDefault, rng)
	l3, err7 := nn.NewLinear(b, 32, 2, nn.InitDefault, rng)
	x, err8 := tensor.New(b, batch, 2)
	y, err9 := tensor.New(b, batch)
	order, err10 := tensor.New(b, train)
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8, err9, err10); err != nil {
		return err
	}
	net := nn.NewSequential(l1, nn.Tanh(), l2, nn.ReLU(), l3)
	loss := nn.NewCrossEntropyLoss()
	const lr = 0.01
	opt := nn.NewAdam(lr)
	// A schedule gives factors of the optimizer's rate: from 1 down to
	// 1/20 of it over the run.
	schedule := nn.Cosine{Epochs: epochs, MinFactor: 0.05}
	perm := make([]float32, train)

	for epoch := 0; epoch < epochs; epoch++ {
		rate := lr * schedule.Factor(nn.At{Epoch: epoch})
		opt.SetLR(rate)
		for i, p := range rng.Perm(train) {
			perm[i] = float32(p)
		}
		b.Upload(order.Buffer(), perm)
		var sum float64
		for off := 0; off < train; off += batch {
			b.GatherRows(batch, 2, xTrain.Buffer(), order.Buffer(), off, x.Buffer())
			b.GatherRows(batch, 1, yTrain.Buffer(), order.Buffer(), off, y.Buffer())
			l, err := nn.TrainStep(net, loss, opt, x, y)
			if err != nil {
				return err
			}
			v, err := l.Data() // small problem: reading every step is fine
			if err != nil {
				return err
			}
			sum += float64(v[0])
		}
		acc, err := accuracy(net, xTest, pred, teY)
		if err != nil {
			return err
		}
		fmt.Printf("epoch %2d  lr %.4f  train loss %.4f  test accuracy %.1f%%\n",
			epoch+1, rate, sum/float64(train/batch), 100*acc)
	}
	return nil
}

// accuracy classifies x on the device and compares with the labels.
func accuracy(net nn.Module, x, pred *tensor.Tensor, labels []float32) (float64, error) {
	out, err := net.Forward(x)
	if err != nil {
		return 0, err
	}
	b := x.Backend()
	b.ArgmaxRows(out.Rows(), out.Cols(), out.Buffer(), pred.Buffer())
	p, err := pred.Data()
	if err != nil {
		return 0, err
	}
	right := 0
	for i, c := range p {
		if c == labels[i] {
			right++
		}
	}
	return float64(right) / float64(len(labels)), nil
}
