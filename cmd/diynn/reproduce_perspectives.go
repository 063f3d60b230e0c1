package main

import (
	"fmt"
	"path/filepath"
)

// perspectives builds and measures what the report's conclusion asks for:
// convolutional networks, classification from codes.
func (r *reproducer) perspectives() error {
	r.experiment("experiment 6: convolutional networks (the report's perspectives)")
	r.md.WriteString("## Convolutional networks (the report's perspectives)\n\n| model | data | accuracy | macro F1 | test loss | seconds |\n|---|---|---|---|---|---|\n")
	for _, c := range []struct{ name, data string }{{"fmnist-cnn", "fashion-mnist"}, {"mnist-cnn", "mnist"}} {
		m, err := r.train("exp6-"+c.name, append([]string{"-data", c.data, "-model", c.name}, r.trainExtra...)...)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.md, "| %s | %s | %s | %s | %s | %.0f |\n", c.name, c.data, f4(num(m, "accuracy")), f4(num(m, "macro_f1")),
			f4(num(m, "eval_loss")), num(m, "seconds"))
	}
	conv, err := r.train("exp6-conv-ae", append([]string{"-data", "fashion-mnist", "-model", "conv-ae"}, r.aeExtra...)...)
	if err != nil {
		return err
	}
	ae2, err := readMetrics(filepath.Join(r.dir, "exp3-ae2", "metrics.json"))
	if err != nil {
		return err
	}
	ae3, err := readMetrics(filepath.Join(r.dir, "exp3-ae3", "metrics.json"))
	if err != nil {
		return err
	}
	fmt.Fprintf(r.md, "\nConvolutional autoencoder `conv-ae` (a 32-value code), test binary cross-entropy %s, beside ae2 (30 values) %s and ae3 (32 values) %s of Table 3.\n\n![conv-ae reconstructions](exp6-conv-ae/reconstructions.png)\n\n",
		f4(num(conv, "eval_bce")), f4(num(ae2, "eval_bce")), f4(num(ae3, "eval_bce")))
	if _, err := r.embed("exp6-conv-ae-latents", "exp6-conv-ae", r.tsnePoints); err != nil {
		return err
	}

	return nil
}
