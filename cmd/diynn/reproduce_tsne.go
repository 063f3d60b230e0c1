package main

import (
	"fmt"
	"path/filepath"
)

// table4 is experiment 3 (Table 4): t-SNE of the ae2 and ae4 codes.
func (r *reproducer) table4() error {
	r.experiment("experiment 4: t-SNE of the ae2 and ae4 latent codes (Table 4)")
	r.md.WriteString("## Table 4: t-SNE of the latent codes (Fashion-MNIST test images), KL divergence\n\n| codes | 2-D (perplexity 30) | report | 3-D (perplexity 25, exaggeration 20) | report |\n|---|---|---|---|---|\n")
	for _, ae := range []string{"ae2", "ae4"} {
		prefix, err := r.embed("exp4-"+ae+"-latents", "exp3-"+ae, r.tsnePoints)
		if err != nil {
			return err
		}
		kl := map[string]string{}
		for _, v := range []struct{ dims, perp, exag string }{{"2", "30", "12"}, {"3", "25", "20"}} {
			name := fmt.Sprintf("exp4-%s-tsne-%sd", ae, v.dims)
			outp, err := r.step(name, "tsne", "-in", prefix+".csv", "-dims", v.dims, "-perplexity", v.perp, "-exaggeration", v.exag,
				"-iters", r.tsneIters, "-quiet", "-out", filepath.Join(r.dir, name), "-title", fmt.Sprintf("t-SNE of %s codes (%s-D)", ae, v.dims))
			if err != nil {
				return err
			}
			if m := klLine.FindStringSubmatch(outp); m != nil {
				kl[v.dims] = m[1]
			}
		}
		fmt.Fprintf(r.md, "| %s | %s | %.3f | %s | %.3f |\n", ae, kl["2"], reportKL[ae+"-2d"], kl["3"], reportKL[ae+"-3d"])
	}
	r.md.WriteString("\nThe report's four values are given in one list; we read them as ae2 2-D, ae2 3-D, ae4 2-D, ae4 3-D.\n\n![ae2 2-D](exp4-ae2-tsne-2d.png)\n![ae4 3-D](exp4-ae4-tsne-3d.png)\n\n")

	return nil
}
