package model

import (
	"fmt"
	"sort"
	"strings"
)

// Preset is a named network with training defaults that reach good accuracy.
type Preset struct {
	Name, Spec string
	Data       string // the dataset it is meant for
	Task       string // "classify" (default) or "reconstruct" (autoencoders)
	Encoder    int    // autoencoders: the number of spec layers that make the encoder
	Epochs     int
	Batch      int
	Optim      string // sgd, momentum, adam or adamw
	LR         float64
	Schedule   string // const, exp:G, step:E:G or cosine
	// Report holds the report's own settings where they differ from ours.
	Report *Settings
}

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

// Presets are the report's classifiers (models 1-4).
var Presets = map[string]Preset{
	"iris-mlp": {Name: "iris-mlp", Spec: "linear(4,10) tanh linear(10,4) tanh linear(4,3)", Data: "iris",
		Epochs: 200, Batch: 16, Optim: "adam", LR: 0.01, Schedule: "const"},
	"fmnist-tanh": {Name: "fmnist-tanh", Spec: "linear(784,176) tanh linear(176,42) tanh linear(42,10)", Data: "fashion-mnist",
		Epochs: 20, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "cosine"},
	"fmnist-relu": {Name: "fmnist-relu", Spec: "linear(784,176) tanh linear(176,42) relu linear(42,10)", Data: "fashion-mnist",
		Epochs: 20, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "cosine"},
	"kmnist-relu": {Name: "kmnist-relu", Spec: "linear(784,176) tanh linear(176,42) relu linear(42,10) relu", Data: "kmnist",
		Epochs: 20, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "cosine"},
	// The report's autoencoders: tied decoders, LeakyReLU hidden layers, a
	// sigmoid output and binary cross-entropy, with its SGD settings kept as
	// Report (ae1's step decay: the rate halves every 25 of its 100 epochs).
	// Our defaults: Adam with a cosine schedule, 30 epochs (50 for ae3,
	// the widest, and ae4, whose 3-value code learns slowly).
	"ae1": aePreset("ae1", "0.1", 30, Settings{Epochs: 100, Batch: 128, Optim: "sgd", LR: 0.1, Schedule: "step:25:0.5"}, 784, 256, 64),
	"ae2": aePreset("ae2", "0.01", 30, Settings{Epochs: 50, Batch: 128, Optim: "sgd", LR: 0.1, Schedule: "exp:0.95"}, 784, 264, 88, 30),
	"ae3": aePreset("ae3", "0.01", 50, Settings{Epochs: 70, Batch: 128, Optim: "sgd", LR: 0.1, Schedule: "exp:0.97"}, 784, 424, 128, 32),
	"ae4": aePreset("ae4", "0.01", 50, Settings{Epochs: 50, Batch: 128, Optim: "sgd", LR: 0.1, Schedule: "exp:0.97"}, 784, 264, 3),
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
