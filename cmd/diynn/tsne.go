package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/figures"
	"github.com/diynn/diynn/internal/inputfile"
	"github.com/diynn/diynn/tsne"
)

// Limits of diynn tsne, checked before the long part of the run. An input
// past them would need more memory than a workstation has, long before
// t-SNE itself ran: the input is held three times over (as float32 read,
// as float64, normalised), and Barnes-Hut builds its sparse affinities
// with up to about 200 bytes per neighbour pair.
const (
	tsneMaxInputBytes  = 4 << 30 // the -in file
	tsneMaxInputValues = 1 << 28 // its numbers: 1 GiB as float32, 2 GiB as float64
	tsneMaxPairs       = 1 << 27 // n·3·perplexity neighbour pairs: about 25 GiB
	tsneMaxExactPoints = 5000    // -theta 0 is O(n²): 600 MB and 25M pairs per iteration here
	tsneMaxIters       = 1000000 // a thousand times the usual: days, not forever
)

func tsneCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("diynn tsne", flag.ContinueOnError)
	in := fs.String("in", "", "CSV with a header row, numeric feature columns and an optional label column (e.g. from diynn embed); "+
		"a regular file of at most 4 GiB and 2^28 numbers")
	dims := fs.Int("dims", 2, "output dimensions: 2 or 3")
	perplexity := fs.Float64("perplexity", 30, "perplexity of the input affinities, the effective number of neighbours: "+
		"at least 1, and below a third of the number of points")
	iters := fs.Int("iters", 1000, "gradient-descent iterations (1 to 1000000)")
	theta := fs.Float64("theta", 0.5, "Barnes-Hut accuracy, in (0, 1] (smaller is more exact); 0 for exact t-SNE (at most 5000 points)")
	method := fs.String("method", "auto", "repulsive forces: bh (Barnes-Hut), fft (FIt-SNE's interpolation, 2-D only), "+
		"or auto: "+autoRule())
	pca := fs.Int("pca", 0, "project the input onto its first N principal components first (e.g. 50 for raw 784-pixel images); "+
		"1 to the number of feature columns; not given: no PCA")
	exaggeration := fs.Float64("exaggeration", 12, "early exaggeration: 1 (none) to 1e9")
	exaggerationIters := fs.Int("exaggeration-iters", 250, "iterations of early exaggeration, 1 to -iters; if not given, 250 or -iters, "+
		"whichever is smaller (for no early exaggeration, use -exaggeration 1)")
	lrFlag := fs.String("lr", "auto", "learning rate: positive, at most 1e9, or auto: max(points / exaggeration / 4, 50), "+
		"scikit-learn's rule since 1.2 (200 was the fixed default before)")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output prefix: PREFIX.png (scatter by class) and PREFIX.csv (the embedding), in an existing directory, "+
		"and neither of them -in; default: beside the input, tsne-Nd")
	title := fs.String("title", "", "figure title (default: the input's file name)")
	quiet := fs.Bool("quiet", false, "print only the final line (KL divergence and the quality measures)")
	trustSubset := fs.Int("trust-subset", 10000, "measure the trustworthiness on a random subset of at most this many points "+
		"(it costs the square of their number), 1000 to 100000")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	// Every flag first: a mistake in one must not cost a read of the input.
	if *in == "" {
		return usagef("-in FILE is required")
	}
	if err := refuseEmpty(fs, "out", "title"); err != nil {
		return err
	}
	if *dims != 2 && *dims != 3 {
		return usagef("-dims %d: want 2 or 3", *dims)
	}
	if !(*perplexity >= 1 && !math.IsInf(*perplexity, 1)) {
		return usagef("-perplexity %v: want a finite number, at least 1 (the effective number of neighbours; 5 to 50 is usual)", *perplexity)
	}
	if *iters < 1 || *iters > tsneMaxIters {
		return usagef("-iters %d: want 1 to %d iterations (1000 is usual)", *iters, tsneMaxIters)
	}
	if !(*theta == 0 || *theta > 0 && *theta <= 1) {
		return usagef("-theta %v: want 0 for exact t-SNE, or a Barnes-Hut accuracy in (0, 1] (0.5 is usual)", *theta)
	}
	if !(*exaggeration >= 1 && *exaggeration <= tsne.MaxRate) {
		return usagef("-exaggeration %v: want a finite number from 1 (none) to 1e9 (12 is usual)", *exaggeration)
	}
	if *exaggerationIters < 1 {
		return usagef("-exaggeration-iters %d: want at least 1 iteration (for no early exaggeration, use -exaggeration 1)", *exaggerationIters)
	}
	if *exaggerationIters > *iters {
		if given["exaggeration-iters"] {
			return usagef("-exaggeration-iters %d: more than the %d iterations of -iters", *exaggerationIters, *iters)
		}
		*exaggerationIters = *iters
	}
	lr := tsne.AutoLearningRate
	if *lrFlag != "auto" {
		v, err := strconv.ParseFloat(*lrFlag, 64)
		if err != nil || !(v > 0 && v <= tsne.MaxRate) {
			return usagef("-lr %s: want auto, or a positive finite number, at most 1e9 (200 is usual)", *lrFlag)
		}
		lr = v
	}
	m := tsne.Method(*method)
	switch m {
	case tsne.MethodAuto, tsne.MethodBH:
	case tsne.MethodFFT:
		if *dims == 3 {
			return usagef("-method fft embeds in 2 dimensions: use -method bh (or auto) for -dims 3")
		}
		if *theta == 0 {
			return usagef("-method fft: conflicts with -theta 0 (exact t-SNE)")
		}
	default:
		return usagef("-method %s: want auto, bh or fft", *method)
	}
	if given["pca"] && *pca < 1 {
		return usagef("-pca %d: want at least 1 principal component (or leave -pca out for none)", *pca)
	}
	if *trustSubset < 1000 || *trustSubset > 100000 {
		return usagef("-trust-subset %d: want 1000 to 100000 points", *trustSubset)
	}
	cfg := tsne.Config{Dims: *dims, Perplexity: *perplexity, Iters: *iters, Theta: *theta, Method: m,
		EarlyExaggeration: *exaggeration, ExaggerationIters: *exaggerationIters, LearningRate: lr, Seed: *seed}
	if *theta == 0 {
		cfg.Theta = tsne.Exact
		if m == tsne.MethodBH {
			return usagef("-method bh: conflicts with -theta 0 (exact t-SNE)")
		}
		cfg.Method = tsne.MethodExact
	}
	if err := cfg.Validate(); err != nil {
		return tsneUsage(err)
	}

	// Then the files, still before the long part.
	f, _, err := inputfile.Open(*in, "a CSV file", tsneMaxInputBytes)
	if err != nil {
		return usagef("-in: %v", err)
	}
	if *out == "" {
		*out = filepath.Join(filepath.Dir(*in), fmt.Sprintf("tsne-%dd", *dims))
	}
	if err := checkOutPrefix("-out", *out, map[string]string{"-in": *in}, ".png", ".csv", ".json"); err != nil {
		f.Close()
		return err
	}
	lr2 := &limitedReader{r: f, limit: tsneMaxInputBytes}
	d, err := data.ReadLabelledCSVMax(lr2, "label", tsneMaxInputValues)
	f.Close()
	switch {
	case err == nil:
	case lr2.tooLarge:
		return usagef("-in %s grew past 4 GiB while being read", *in)
	case lr2.err != nil:
		return fmt.Errorf("reading %s: %w", *in, lr2.err)
	default:
		return usagef("-in %s: %v", *in, err)
	}
	if d.N < 4 { // perplexity 1, the least, needs 3 neighbours
		points := fmt.Sprintf("%d points", d.N)
		if d.N == 1 {
			points = "1 point"
		}
		return usagef("-in %s holds %s: t-SNE needs at least 4", *in, points)
	}
	if 3**perplexity > float64(d.N-1) {
		return usagef("-perplexity %g is too large for %d points (3·perplexity must be below the number of points)", *perplexity, d.N)
	}
	if *theta == 0 && d.N > tsneMaxExactPoints {
		return usagef("-theta 0 (exact t-SNE) needs O(n²) memory; %d points is too many (at most %d): use Barnes-Hut", d.N, tsneMaxExactPoints)
	}
	if k := min(d.N-1, int(3**perplexity)); *theta != 0 && int64(d.N)*int64(k) > tsneMaxPairs {
		return usagef("-in %s: %d points × %d neighbours (3·perplexity) is more than the %d neighbour pairs diynn tsne allows "+
			"(about 200 bytes each): use fewer points (diynn embed -limit) or a smaller -perplexity", *in, d.N, k, tsneMaxPairs)
	}

	if *pca > d.Features {
		return usagef("-pca %d: -in %s has only %d feature columns", *pca, *in, d.Features)
	}

	x := make([]float64, len(d.X))
	for i, v := range d.X {
		x[i] = float64(v)
	}
	if !*quiet {
		cfg.Progress = stdout
	}
	start := time.Now()
	features := d.Features
	if *pca > 0 {
		if x, err = tsne.PCA(x, d.N, d.Features, *pca); err != nil {
			return err
		}
		features = *pca
		if !*quiet {
			fmt.Fprintf(stdout, "PCA: %d → %d dimensions in %.1fs\n", d.Features, features, time.Since(start).Seconds())
		}
	}
	r, err := tsne.Run(x, d.N, features, cfg)
	if err != nil {
		return tsneUsage(err)
	}
	seconds := time.Since(start).Seconds()
	if !*quiet {
		fmt.Fprintf(stdout, "method %s (%s), learning rate %.4g\n", r.Method, methodWhy(*method, r.Method, *dims, d.N), r.LearningRate)
	}
	// The quality measures, after the timing: the trustworthiness's ranks
	// cost the square of its subset.
	trust, err := tsne.Trustworthiness(x, d.N, features, r.Y, *dims, min(10, (min(d.N, *trustSubset)-1)/2), *trustSubset, *seed)
	if err != nil {
		return err
	}
	knnAcc := math.NaN()
	if len(d.ClassNames) > 1 {
		labels := make([]int, d.N)
		for i, y := range d.Y {
			labels[i] = int(y)
		}
		if knnAcc, err = tsne.KNNAccuracy(r.Y, d.N, *dims, labels, min(10, d.N-1)); err != nil {
			return err
		}
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
	for c := 0; c < *dims; c++ {
		fmt.Fprintf(&b, "t%d,", c)
	}
	b.WriteString("label\n")
	for i := 0; i < d.N; i++ {
		for c := 0; c < *dims; c++ {
			b.WriteString(strconv.FormatFloat(r.Y[i**dims+c], 'g', 8, 64))
			b.WriteByte(',')
		}
		name := d.ClassNames[labels[i]]
		if strings.ContainsAny(name, ",\"\n") {
			name = strconv.Quote(name)
		}
		b.WriteString(name + "\n")
	}
	if err := writeFileAtomic(*out+".csv", b.Bytes()); err != nil {
		return err
	}
	metrics := map[string]any{"n": d.N, "features": d.Features, "pca": *pca, "dims": *dims, "method": string(r.Method),
		"perplexity": *perplexity, "iters": *iters, "exaggeration": *exaggeration, "learning_rate": r.LearningRate,
		"seed": *seed, "kl": r.KL, "trustworthiness": trust, "trustworthiness_points": min(d.N, *trustSubset),
		"knn_accuracy": nil, "seconds": seconds}
	knnText := ""
	if !math.IsNaN(knnAcc) {
		metrics["knn_accuracy"] = knnAcc
		knnText = fmt.Sprintf(", 10-NN accuracy %.4f", knnAcc)
	}
	js, err := json.MarshalIndent(metrics, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out+".json", append(js, '\n')); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "t-SNE of %d points (%d-D → %d-D) in %.1fs: KL divergence %.4f; wrote %s.png, %s.csv and %s.json; "+
		"method %s, trustworthiness %.4f%s\n",
		d.N, d.Features, *dims, seconds, r.KL, *out, *out, *out, r.Method, trust, knnText)
	return nil
}

// methodWhy says why the command ran the method it did.
func methodWhy(asked string, ran tsne.Method, dims, n int) string {
	switch {
	case asked != "auto":
		return "as asked"
	case ran == tsne.MethodExact:
		return "-theta 0"
	case ran == tsne.MethodFFT:
		return fmt.Sprintf("auto: a 2-D map of %d points, at least %d", n, tsne.FFTCrossover)
	case dims == 3:
		return "auto: 3-D maps use Barnes-Hut"
	}
	if tsne.FFTCrossover > tsne.MaxPoints {
		return "auto: Barnes-Hut was the faster at every size measured"
	}
	return fmt.Sprintf("auto: %d points, fewer than the %d where FFT wins", n, tsne.FFTCrossover)
}

// autoRule is -method auto's rule, for the help text.
func autoRule() string {
	if tsne.FFTCrossover > tsne.MaxPoints {
		return "bh (on this project's measurements FFT, at the accuracy that matches Barnes-Hut's KL, was slower at every size)"
	}
	return fmt.Sprintf("fft for 2-D maps of at least %d points, bh otherwise", tsne.FFTCrossover)
}

// tsneFlags names the flag of each tsne.Config field.
var tsneFlags = map[string]string{"Dims": "-dims", "Perplexity": "-perplexity", "Iters": "-iters", "Theta": "-theta", "Method": "-method",
	"EarlyExaggeration": "-exaggeration", "ExaggerationIters": "-exaggeration-iters", "LearningRate": "-lr"}

// tsneUsage turns package tsne's configuration errors, which name a Config
// field, into usage errors that name the flag; other errors pass through.
func tsneUsage(err error) error {
	var ce *tsne.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	name, value := tsneFlags[ce.Field], ce.Value
	if name == "" {
		return usageError{err.Error()}
	}
	if ce.Field == "Theta" && value == "-1" {
		value = "0" // tsne.Exact, which the command spells 0
	}
	return usagef("%s %s: %s", name, value, ce.Want)
}

// limitedReader reads r until more than limit bytes have come, and
// remembers why it stopped, so that a failed parse can be told apart from
// an input that grew too large or could not be read.
type limitedReader struct {
	r        io.Reader
	limit, n int64
	tooLarge bool
	err      error // the first read error other than io.EOF
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.tooLarge {
		return 0, errors.New("input too large")
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		l.tooLarge = true
		return n, errors.New("input too large")
	}
	if err != nil && err != io.EOF && l.err == nil {
		l.err = err
	}
	return n, err
}
