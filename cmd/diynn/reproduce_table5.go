package main

import (
	"fmt"
	"path/filepath"
)

// table5 is experiment 4 (Table 5): classifiers on the autoencoders' reconstructions and codes.
func (r *reproducer) table5() error {
	// Table 5: classifiers on the autoencoder's reconstructions and codes.
	r.experiment("experiment 5: classifiers on ae2 reconstructions and codes (Table 5)")
	r.md.WriteString("## Table 5: fmnist-relu on ae2's outputs\n\n| features | values per image | accuracy | macro F1 |\n|---|---|---|---|\n")
	raw, err := readMetrics(filepath.Join(r.dir, "exp2-fmnist-relu", "metrics.json"))
	if err != nil {
		return err
	}
	fmt.Fprintf(r.md, "| raw pixels | 784 | %s | %s |\n", f4(num(raw, "accuracy")), f4(num(raw, "macro_f1")))
	for _, feat := range []string{"recon", "latent"} {
		m, err := r.train("exp5-"+feat, append([]string{"-data", "fashion-mnist", "-model", "fmnist-relu",
			"-preprocess", filepath.Join(r.dir, "exp3-ae2", "model.safetensors"), "-features", feat}, r.trainExtra...)...)
		if err != nil {
			return err
		}
		width := "784"
		if feat == "latent" {
			width = "30"
		}
		fmt.Fprintf(r.md, "| ae2 %s | %s | %s | %s |\n", feat, width, f4(num(m, "accuracy")), f4(num(m, "macro_f1")))
	}
	return nil
}
