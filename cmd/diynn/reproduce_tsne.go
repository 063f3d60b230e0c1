package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// reportKL are the report's t-SNE KL divergences (Table 4). The issue that
// first gave them listed "1.201 / 2.016 / 1.341 / 1.210" for the ae2 and
// ae4 latents in 2-D and 3-D; REPORT.md's table confirms that reading.
var reportKL = map[string]float64{"ae2-2d": 1.201, "ae2-3d": 2.016, "ae4-2d": 1.341, "ae4-3d": 1.210}

// tsneMap is one of Table 4's maps: scikit-learn's settings in the report.
type tsneMap struct {
	dims, perplexity, exaggeration string
}

var table4Maps = []tsneMap{{"2", "30", "12"}, {"3", "25", "20"}}

// table4 is experiment 3 (Table 4): t-SNE of the ae2 and ae4 codes of the
// training images, at the report's scale and settings, with two measures
// of the maps' quality beside the KL divergence.
func (r *reproducer) table4() error {
	r.experiment("Table 4: t-SNE of the ae2 and ae4 codes of the training images")
	r.md.WriteString("## Table 4: t-SNE of the latent codes, at the report's scale\n\n" +
		"The encoder half of Table 3's autoencoders (our defaults) on the **training images** (`diynn embed -split train`: the 60 000 images they were trained on; " +
		"the report's X_train may be the 48 000 of its 80/20 split, it does not say), then `diynn tsne` at the report's scikit-learn settings: " +
		"3000 iterations; 2-D with perplexity 30 (early exaggeration 12, scikit-learn's default), 3-D with perplexity 25 and early exaggeration 20; " +
		"learning rate auto (max(N / exaggeration / 4, 50), scikit-learn ≥ 1.2), seed 1; `-method auto`: the FFT-accelerated repulsion for the 2-D maps (the faster from 500 points, at a KL within 2% of Barnes-Hut's), Barnes-Hut (θ 0.5) for the 3-D ones (docs/BENCHMARKS.md); the table's method column says which ran. " +
		"KL divergences are only comparable at equal perplexity and number of points; trustworthiness (k = 10, on a seeded subset) and the accuracy of a " +
		"10-nearest-neighbour classifier in the map do not depend on the number of points.\n\n" +
		"| codes | map | points | method | KL | report's KL | trustworthiness (k = 10) | 10-NN accuracy | seconds |\n|---|---|---|---|---|---|---|---|---|\n")
	// Both embeddings, then the 2-D maps (minutes), then the 3-D ones
	// (Barnes-Hut: the longest steps of the whole reproduction), so that an
	// interrupted run has finished what it could; rows keep the report's order.
	prefixes := map[string]string{}
	for _, ae := range []string{"ae2", "ae4"} {
		prefix, err := r.embed("exp4-"+ae+"-train-codes", "exp3-"+ae, r.tsnePoints, "-split", "train")
		if err != nil {
			return err
		}
		prefixes[ae] = prefix
	}
	rows := map[string]string{}
	for _, v := range table4Maps {
		for _, ae := range []string{"ae2", "ae4"} {
			name := fmt.Sprintf("exp4-%s-tsne-%sd", ae, v.dims)
			if _, err := r.step(name, "tsne", "-in", prefixes[ae]+".csv", "-dims", v.dims, "-perplexity", v.perplexity, "-exaggeration", v.exaggeration,
				"-iters", r.tsneIters, "-quiet", "-out", filepath.Join(r.dir, name), "-title", fmt.Sprintf("t-SNE of %s codes (%s-D)", ae, v.dims)); err != nil {
				return err
			}
			m, err := readMetrics(filepath.Join(r.dir, name+".json"))
			if err != nil {
				return err
			}
			method, _ := m["method"].(string)
			rows[name] = fmt.Sprintf("| %s | %s-D, perplexity %s | %.0f | %s | %s | %.3f | %s | %s | %.0f |\n", ae, v.dims, v.perplexity, num(m, "n"), method,
				f4(num(m, "kl")), reportKL[ae+"-"+v.dims+"d"], f4(num(m, "trustworthiness")), f4(num(m, "knn_accuracy")), num(m, "seconds"))
		}
	}
	var figs []string
	for _, ae := range []string{"ae2", "ae4"} {
		for _, v := range table4Maps {
			name := fmt.Sprintf("exp4-%s-tsne-%sd", ae, v.dims)
			r.md.WriteString(rows[name])
			figs = append(figs, fmt.Sprintf("![%s %s-D](%s.png)", ae, v.dims, name))
		}
	}
	r.md.WriteString("\n" + strings.Join(figs, "\n") + "\n\n")
	return nil
}
