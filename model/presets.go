package model

import (
	"sort"
	"strings"
)

// Preset is a named network with training defaults that reach good accuracy.
type Preset struct {
	Name, Spec string
	Data       string // the dataset it is meant for
	Epochs     int
	Batch      int
	Optim      string // sgd, momentum or adam
	LR         float64
	Schedule   string // const, exp:G, step:E:G or cosine
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
