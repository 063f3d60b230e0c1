package nn_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/diynn/diynn/backend"
	_ "github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// A two-layer network learns XOR: forward, loss, backward and update in one
// TrainStep call per step.
func ExampleTrainStep() {
	b, err := backend.Open("cpu")
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x, _ := tensor.FromSlice(b, []float32{0, 0, 0, 1, 1, 0, 1, 1}, 4, 2)
	y, _ := tensor.FromSlice(b, []float32{0, 1, 1, 0}, 4)
	hidden, _ := nn.NewLinear(b, 2, 8, nn.InitDefault, rng)
	output, _ := nn.NewLinear(b, 8, 2, nn.InitDefault, rng)
	net := nn.NewSequential(hidden, nn.Tanh(), output)
	loss, opt := nn.NewCrossEntropyLoss(), nn.NewAdam(0.05)
	for step := 0; step < 200; step++ {
		if _, err := nn.TrainStep(net, loss, opt, x, y); err != nil {
			panic(err)
		}
	}
	out, _ := net.Forward(x)
	pred, _ := tensor.New(b, 4)
	b.ArgmaxRows(4, 2, out.Buffer(), pred.Buffer())
	classes, _ := pred.Data()
	fmt.Println(classes)
	// Output: [0 1 1 0]
}

// A tied autoencoder layer: the decoder reuses the encoder's weight
// transposed and owns only its bias.
func ExampleNewTiedLinear() {
	b, _ := backend.Open("cpu")
	rng := rand.New(rand.NewPCG(1, 2))
	enc, _ := nn.NewLinear(b, 784, 64, nn.InitDefault, rng)
	dec, _ := nn.NewTiedLinear(enc, rng)
	ae := nn.NewSequential(enc, nn.LeakyReLU(0.1), dec, nn.Sigmoid())
	for _, p := range ae.Params() {
		fmt.Println(p.Name, p.Value.Shape())
	}
	// Output:
	// 0.weight (64×784)
	// 0.bias (64)
	// 2.bias (784)
}

// Dropout in training mode zeroes values with probability p and scales the
// rest by 1/(1-p); in evaluation mode it passes its input through. Reseed
// restarts its random stream, so the same seed gives the same mask.
func ExampleDropout() {
	b, _ := backend.Open("cpu")
	x, _ := tensor.FromSlice(b, []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, 10)
	drop, _ := nn.NewDropout(0.5, 7)
	net := nn.NewSequential(drop)

	nn.Reseed(net, 1)
	y, _ := net.Forward(x)
	first, _ := y.Data()
	nn.Reseed(net, 1)
	y, _ = net.Forward(x)
	again, _ := y.Data()
	fmt.Println("training:", first)
	fmt.Println("same seed, same mask:", fmt.Sprint(first) == fmt.Sprint(again))

	nn.SetTraining(net, false)
	y, _ = net.Forward(x)
	eval, _ := y.Data()
	fmt.Println("evaluation:", eval)
	fmt.Println(drop.Spec())
	// Output:
	// training: [0 2 0 2 2 0 2 2 0 0]
	// same seed, same mask: true
	// evaluation: [1 1 1 1 1 1 1 1 1 1]
	// dropout(0.5)
}

// A joint autoencoder: one code, a tied decoder and a classifier on it.
// Concat joins the reconstruction and the class scores; SplitLoss weighs
// the reconstruction's BCE and the classifier's cross-entropy, against a
// target that holds each sample's values and then its label.
func ExampleConcat() {
	b, err := backend.Open("cpu")
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	enc, _ := nn.NewLinear(b, 4, 2, nn.InitDefault, rng)
	dec, _ := nn.NewTiedLinear(enc, rng)
	cls, _ := nn.NewLinear(b, 2, 3, nn.InitDefault, rng)
	net := nn.NewSequential(enc, nn.Tanh(), nn.NewConcat(nn.NewSequential(dec, nn.Sigmoid()), cls))
	loss := nn.NewSplitLoss(
		nn.LossPart{Width: 4, TargetWidth: 4, Loss: nn.BCELoss(), Weight: 1},
		nn.LossPart{Width: 3, TargetWidth: 1, Labels: true, Loss: nn.NewCrossEntropyLoss(), Weight: 0.5})
	x, _ := tensor.FromSlice(b, []float32{1, 0, 0, 1, 0, 1, 1, 0}, 2, 4)
	target, _ := tensor.FromSlice(b, []float32{1, 0, 0, 1, 2, 0, 1, 1, 0, 0}, 2, 5) // values, then the label
	opt := nn.NewAdam(0.05)
	var first, last float32
	for step := 0; step < 100; step++ {
		l, err := nn.TrainStep(net, loss, opt, x, target)
		if err != nil {
			panic(err)
		}
		v, _ := l.Data()
		if step == 0 {
			first = v[0]
		}
		last = v[0]
	}
	out, _ := net.Forward(x)
	fmt.Println("output shape:", out.Shape(), "names:", net.Params()[2].Name, net.Params()[3].Name)
	fmt.Println("loss went down:", last < first/2)
	// Output:
	// output shape: (2×7) names: 2.0.0.bias 2.1.weight
	// loss went down: true
}
