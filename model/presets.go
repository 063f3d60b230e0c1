package model

import (
	"fmt"
	"sort"
	"strings"

	"github.com/diynn/diynn/tensor"
)

// Preset is a named network with training defaults that reach good accuracy.
type Preset struct {
	Name, Spec string
	Data       string // the dataset it is meant for
	Task       string // "classify" (default) or "reconstruct" (autoencoders)
	Encoder    int    // autoencoders: the number of spec layers that make the encoder
	// ClassWeight is a joint autoencoder's (Task "joint") weight of the
	// classifier's cross-entropy beside the reconstruction's BCE.
	ClassWeight float64
	Epochs      int
	Batch       int
	Optim       string // sgd, momentum, adam or adamw
	LR          float64
	Schedule    string // const, exp:G, step:E:G or cosine
	// Report holds the report's own settings where they differ from ours.
	Report *Settings
	// Input is the per-sample shape of Data's samples, (1, 28, 28) for
	// the image sets, for a spec whose layers do not imply it (one that
	// starts with a convolution); nil otherwise.
	Input tensor.Shape
}

// Plan plans the preset's spec, for its Input when it has one.
func (p Preset) Plan() (*Plan, error) {
	if p.Input != nil {
		return NewPlanFor(p.Spec, p.Input)
	}
	return NewPlan(p.Spec)
}

// cnn is the convolutional classifier of fmnist-cnn and mnist-cnn: two
// blocks of a 3×3 convolution, batch norm, ReLU and 2×2 max pooling
// (28×28 → 14×14 → 7×7, 32 then 64 channels), then a hidden layer of 128
// with dropout on both sides.
const cnn = "conv(1,32,3,pad=1) batchnorm2d(32) relu maxpool(2) conv(32,64,3,pad=1) batchnorm2d(64) relu maxpool(2) " +
	"flatten dropout(0.25) linear(3136,128) relu dropout(0.25) linear(128,10)"

// convAE is the convolutional autoencoder of conv-ae: two stride-2
// convolutions (28×28 → 14×14 → 7×7) and a linear layer down to a code of
// 32 values, as ae3's; then back up through a linear layer and two
// transposed convolutions (7×7 → 14×14 → 28×28) to a sigmoid, flattened
// so that its output is a sample's 784 values, as the data holds them.
const convAE = "conv(1,32,3,stride=2,pad=1) relu conv(32,64,3,stride=2,pad=1) relu flatten linear(3136,32) " +
	"linear(32,3136) relu reshape(64,7,7) convtranspose(64,32,3,stride=2,pad=1,outpad=1) relu convtranspose(32,1,3,stride=2,pad=1,outpad=1) sigmoid flatten"

// convAEEncoder is the number of layers of convAE's encoder, up to the code.
const convAEEncoder = 6

// images is the sample shape of the 28×28 grey image datasets.
var images = tensor.Shape{1, 28, 28}

// Settings are the training hyper-parameters of a preset.
type Settings struct {
	Epochs, Batch int
	Optim         string
	LR            float64
	Schedule      string
}

// autoencoder builds the spec of a symmetric autoencoder whose decoder
// reuses the encoder's weights transposed: linear layers of the given
// widths with LeakyReLU(alpha) after each, then tied layers back out and a
// sigmoid. It returns the spec and the length of the encoder.
func autoencoder(alpha string, widths ...int) (string, int) {
	var layers []string
	for i := 0; i+1 < len(widths); i++ {
		layers = append(layers, fmt.Sprintf("linear(%d,%d)", widths[i], widths[i+1]), "leakyrelu("+alpha+")")
	}
	encoder := len(layers)
	for i := len(widths) - 2; i >= 0; i-- {
		layers = append(layers, fmt.Sprintf("tied(%d)", 2*i))
		if i > 0 {
			layers = append(layers, "leakyrelu("+alpha+")")
		}
	}
	return strings.Join(append(layers, "sigmoid"), " "), encoder
}

func aePreset(name, alpha string, epochs int, report Settings, widths ...int) Preset {
	spec, enc := autoencoder(alpha, widths...)
	return Preset{Name: name, Spec: spec, Data: "fashion-mnist", Task: "reconstruct", Encoder: enc,
		Epochs: epochs, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "cosine", Report: &report}
}

// jointPreset is the joint autoencoder of the report's perspectives: the
// autoencoder of aePreset's widths with a classifier head beside its
// decoder, on its code (concat[decoder | head]), trained on the
// reconstruction's BCE plus weight × the classifier's cross-entropy.
func jointPreset(name, alpha string, epochs int, weight float64, head string, widths ...int) Preset {
	spec, enc := autoencoder(alpha, widths...)
	layers := strings.Fields(spec)
	spec = strings.Join(layers[:enc], " ") + " concat[" + strings.Join(layers[enc:], " ") + " | " + head + "]"
	return Preset{Name: name, Spec: spec, Data: "fashion-mnist", Task: "joint", Encoder: enc, ClassWeight: weight,
		Epochs: epochs, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "cosine"}
}

// Presets are the report's classifiers (models 1-4) and autoencoders, and
// the convolutional networks that follow them.
//
// The classifiers' Report settings are the report's Table 2: plain SGD at
// its learning rates (0.01, 0.01, 0.1, 0.1) with no schedule, and its
// "iterations" (1000, 100, 100, 100) read as epochs of mini-batch SGD. The
// report gives no batch size: we take 16 for Iris's 120 training samples
// and 128, the batch of its autoencoders, for the images. `diynn train
// -report` also holds out the report's 20% of the training file (-val 0.2:
// 48 000 / 12 000, Iris 120 / 30). The other reading, full-batch gradient
// steps, is the same with -batch set to the training split's size (Iris
// 120, the image sets 48 000, kmnist -test-only 8 000).
var Presets = map[string]Preset{
	"iris-mlp": {Name: "iris-mlp", Spec: "linear(4,10) tanh linear(10,4) tanh linear(4,3)", Data: "iris",
		Epochs: 200, Batch: 16, Optim: "adam", LR: 0.01, Schedule: "const",
		Report: &Settings{Epochs: 1000, Batch: 16, Optim: "sgd", LR: 0.01, Schedule: "const"}},
	"fmnist-tanh": {Name: "fmnist-tanh", Spec: "linear(784,176) tanh linear(176,42) tanh linear(42,10)", Data: "fashion-mnist",
		Epochs: 20, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "cosine",
		Report: &Settings{Epochs: 100, Batch: 128, Optim: "sgd", LR: 0.01, Schedule: "const"}},
	"fmnist-relu": {Name: "fmnist-relu", Spec: "linear(784,176) tanh linear(176,42) relu linear(42,10)", Data: "fashion-mnist",
		Epochs: 20, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "cosine",
		Report: &Settings{Epochs: 100, Batch: 128, Optim: "sgd", LR: 0.1, Schedule: "const"}},
	// Model 4 of the report: model 3 with a final ReLU before the softmax.
	"kmnist-relu": {Name: "kmnist-relu", Spec: "linear(784,176) tanh linear(176,42) relu linear(42,10) relu", Data: "kmnist",
		Epochs: 20, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "cosine",
		Report: &Settings{Epochs: 100, Batch: 128, Optim: "sgd", LR: 0.1, Schedule: "const"}},
	// The report's autoencoders: tied decoders, LeakyReLU hidden layers, a
	// sigmoid output and binary cross-entropy, with its SGD settings kept as
	// Report (ae1's step decay: the rate halves every 25 of its 100 epochs).
	// Our defaults: Adam with a cosine schedule, 30 epochs (50 for ae3,
	// the widest, and ae4, whose 3-value code learns slowly).
	"ae1": aePreset("ae1", "0.1", 30, Settings{Epochs: 100, Batch: 128, Optim: "sgd", LR: 0.1, Schedule: "step:25:0.5"}, 784, 256, 64),
	"ae2": aePreset("ae2", "0.01", 30, Settings{Epochs: 50, Batch: 128, Optim: "sgd", LR: 0.1, Schedule: "exp:0.95"}, 784, 264, 88, 30),
	"ae3": aePreset("ae3", "0.01", 50, Settings{Epochs: 70, Batch: 128, Optim: "sgd", LR: 0.1, Schedule: "exp:0.97"}, 784, 424, 128, 32),
	"ae4": aePreset("ae4", "0.01", 50, Settings{Epochs: 50, Batch: 128, Optim: "sgd", LR: 0.1, Schedule: "exp:0.97"}, 784, 264, 3),
	// The report's next step: convolutional networks on the same data.
	"fmnist-cnn": {Name: "fmnist-cnn", Spec: cnn, Data: "fashion-mnist", Input: images,
		Epochs: 15, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "cosine"},
	"mnist-cnn": {Name: "mnist-cnn", Spec: cnn, Data: "mnist", Input: images,
		Epochs: 10, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "cosine"},
	// The report's perspective of a joint reconstruction + classification
	// loss: ae2 (its 30-value code, tied decoder) with a classifier of one
	// hidden layer on the code; the cross-entropy weighs 0.1, so that the
	// reconstruction stays within 5% of ae2's.
	"ae2-joint": jointPreset("ae2-joint", "0.01", 30, 0.1, "linear(30,64) relu linear(64,10)", 784, 264, 88, 30),
	"conv-ae": {Name: "conv-ae", Spec: convAE, Data: "fashion-mnist", Input: images, Task: "reconstruct", Encoder: convAEEncoder,
		Epochs: 30, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "cosine"},
}

// PresetNames lists the presets, sorted.
func PresetNames() string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
