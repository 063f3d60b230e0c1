package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/figures"
	"github.com/diynn/diynn/tsne"
)

func tsneCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("diynn tsne", flag.ContinueOnError)
	in := fs.String("in", "", "CSV with a header row, numeric feature columns and an optional label column (e.g. from diynn embed)")
	dims := fs.Int("dims", 2, "output dimensions: 2 or 3")
	perplexity := fs.Float64("perplexity", 30, "perplexity of the input affinities")
	iters := fs.Int("iters", 1000, "gradient-descent iterations")
	theta := fs.Float64("theta", 0.5, "Barnes-Hut accuracy (smaller is more exact); 0 for exact t-SNE (small inputs only)")
	exaggeration := fs.Float64("exaggeration", 12, "early exaggeration")
	exaggerationIters := fs.Int("exaggeration-iters", 250, "iterations of early exaggeration")
	lr := fs.Float64("lr", 200, "learning rate")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output prefix: PREFIX.png (scatter by class) and PREFIX.csv (the embedding); default: beside the input, tsne-Nd")
	title := fs.String("title", "", "figure title (default: the input's file name)")
	quiet := fs.Bool("quiet", false, "print only the final KL divergence")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *in == "" {
		return usagef("-in FILE is required")
	}
	if *dims != 2 && *dims != 3 {
		return usagef("-dims %d: want 2 or 3", *dims)
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	d, err := data.ReadLabelledCSV(bufio.NewReader(f), "label")
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	if 3**perplexity >= float64(d.N) {
		return usagef("-perplexity %g is too large for %d points (3·perplexity must be below the number of points)", *perplexity, d.N)
	}
	if *theta == 0 {
		*theta = -1 // exact mode in package tsne
		if d.N > 5000 {
			return usagef("-theta 0 (exact t-SNE) needs O(n²) memory; %d points is too many: use Barnes-Hut", d.N)
		}
	}
	x := make([]float64, len(d.X))
	for i, v := range d.X {
		x[i] = float64(v)
	}
	progress := io.Writer(stdout)
	if *quiet {
		progress = nil
	}
	start := time.Now()
	r, err := tsne.Run(x, d.N, d.Features, tsne.Config{Dims: *dims, Perplexity: *perplexity, Iters: *iters, Theta: *theta,
		EarlyExaggeration: *exaggeration, ExaggerationIters: *exaggerationIters, LearningRate: *lr, Seed: *seed, Progress: progress})
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join(filepath.Dir(*in), fmt.Sprintf("tsne-%dd", *dims))
	}
	if *title == "" {
		*title = fmt.Sprintf("t-SNE of %s (perplexity %g)", filepath.Base(*in), *perplexity)
	}
	labels := make([]int, d.N)
	for i, y := range d.Y {
		labels[i] = int(y)
	}
	if err := figures.Scatter(*out+".png", *title, r.Y, *dims, labels, d.ClassNames); err != nil {
		return err
	}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	for c := 0; c < *dims; c++ {
		fmt.Fprintf(w, "t%d,", c)
	}
	w.WriteString("label\n")
	for i := 0; i < d.N; i++ {
		for c := 0; c < *dims; c++ {
			w.WriteString(strconv.FormatFloat(r.Y[i**dims+c], 'g', 8, 64))
			w.WriteByte(',')
		}
		name := d.ClassNames[labels[i]]
		if strings.ContainsAny(name, ",\"\n") {
			name = strconv.Quote(name)
		}
		w.WriteString(name + "\n")
	}
	w.Flush()
	if err := writeFileAtomic(*out+".csv", b.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "t-SNE of %d points (%d-D → %d-D) in %.1fs: KL divergence %.4f; wrote %s.png and %s.csv\n",
		d.N, d.Features, *dims, time.Since(start).Seconds(), r.KL, *out, *out)
	return nil
}
