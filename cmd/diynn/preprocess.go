package main

import (
	"fmt"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/train"
)

// preprocess replaces the features of train and test by an autoencoder's
// reconstructions ("recon") or latent codes ("latent"), for the report's
// preprocessing experiment (Table 5).
func preprocess(b backend.Backend, path, features string, limit int64, sets ...*data.Dataset) error {
	if features != "recon" && features != "latent" {
		return usagef("-features %q: want recon or latent", features)
	}
	ae, f, err := loadModel(b, "-preprocess", path, limit, evalBatch)
	if err != nil {
		return err
	}
	layers, err := encoderLayers(f.Metadata, path)
	if err != nil {
		return err
	}
	for _, d := range sets {
		if d == nil {
			continue
		}
		if d.Features != ae.Inputs {
			return usagef("-preprocess %s takes %d features; %s has %d", path, ae.Inputs, d.Name, d.Features)
		}
		var out []float32
		var width int
		if features == "latent" {
			out, width, err = encode(ae, layers, d)
		} else {
			out, width, err = reconstruct(ae, d)
		}
		if err != nil {
			return err
		}
		d.X, d.Features, d.Shape = out, width, []int{width}
	}
	return nil
}

// reconstruct runs the whole autoencoder over d, in evaluation mode and in
// batches, and returns its outputs (d.N rows) and their width.
func reconstruct(m *model.Model, d *data.Dataset) ([]float32, int, error) {
	p, err := train.Predict(m, d)
	if err != nil {
		return nil, 0, err
	}
	return p.Outputs, p.Width(), nil
}

// withInputs rewrites a spec so that its first linear layer takes n inputs:
// a preset classifier for images then runs on latent codes.
func withInputs(spec string, n int) (string, error) {
	layers, err := model.Parse(spec)
	if err != nil {
		return "", err
	}
	for i, l := range layers {
		if l.Kind == "linear" {
			layers[i].Args[0] = float64(n)
			return model.Format(layers), nil
		}
		if len(l.Heads) > 0 {
			return "", fmt.Errorf("spec %q: its input goes into the heads of %s before any linear layer: write the spec for %d input values yourself", spec, l.Kind, n)
		}
	}
	return "", fmt.Errorf("spec %q has no linear layer", spec)
}
