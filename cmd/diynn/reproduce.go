package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/diynn/diynn/internal/rundir"
)

// The report's published numbers that `diynn reproduce` sets beside ours.
var (
	reportBCE = map[string]float64{"ae1": 0.40, "ae2": 0.277, "ae3": 0.27, "ae4": 0.313}
	// The issue lists the report's t-SNE KL divergences as
	// "1.201 / 2.016 / 1.341 / 1.210" for the ae2 and ae4 latents in 2-D
	// and 3-D; we read them in that order: ae2 2-D, ae2 3-D, ae4 2-D, ae4 3-D.
	reportKL = map[string]float64{"ae2-2d": 1.201, "ae2-3d": 2.016, "ae4-2d": 1.341, "ae4-3d": 1.210}
)

// Table 2: the report's classifiers, the size of the training split they
// train on at the report's settings (the full batch of the steps reading),
// and the report's published metrics in table2Columns' order.
var (
	table2Models = []struct {
		name, data             string
		trainSize, reportBatch int
	}{{"iris-mlp", "iris", 120, 16}, {"fmnist-tanh", "fashion-mnist", 48000, 128},
		{"fmnist-relu", "fashion-mnist", 48000, 128}, {"kmnist-relu", "kmnist", 8000, 128}}
	table2Columns = [6]string{"train loss", "test loss", "accuracy", "F1", "precision", "recall"}
	reportTable2  = map[string][6]float64{
		"iris-mlp":    {0.29, 0.33, 0.90, 0.90, 0.90, 0.90},
		"fmnist-tanh": {0.90, 0.92, 0.72, 0.72, 0.71, 0.82},
		"fmnist-relu": {0.55, 0.53, 0.81, 0.81, 0.82, 0.80},
		"kmnist-relu": {0.55, 0.64, 0.80, 0.80, 0.80, 0.80},
	}
)

const table2Intro = "## Table 2: classifiers, three ways\n\n" +
	"The report's numbers; our run at the report's settings (its architectures, model 4's final ReLU included, plain SGD at its learning rates, " +
	"no schedule, its 80/20 split of the training file) with its \"iterations\" read two ways: epochs of mini-batch SGD, and full-batch gradient steps; " +
	"and our defaults (Adam, see docs/RESULTS.md).\n\n" +
	"| model | data | run | evaluated on | train loss | test loss | accuracy | macro F1 | macro precision | macro recall |\n" +
	"|---|---|---|---|---|---|---|---|---|---|\n"

// table2Metrics reads a classifier run's metrics in table2Columns' order
// (the test loss is the evaluation set's, a hold-out or the test file).
func table2Metrics(m map[string]any) [6]float64 {
	return [6]float64{num(m, "train_loss"), num(m, "eval_loss"), num(m, "accuracy"), num(m, "macro_f1"), num(m, "macro_precision"), num(m, "macro_recall")}
}

// nearerReading says which of two runs, a (epochs) and b (steps), is
// nearer the report's figures by the mean absolute difference over the
// metrics both have; a tie or nothing to compare is "neither".
func nearerReading(report, a, b [6]float64) (nearer string, da, db float64) {
	n := 0
	for i := range report {
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) || math.IsNaN(report[i]) {
			continue
		}
		da += math.Abs(a[i] - report[i])
		db += math.Abs(b[i] - report[i])
		n++
	}
	if n == 0 {
		return "neither", math.NaN(), math.NaN()
	}
	da, db = da/float64(n), db/float64(n)
	switch {
	case da < db:
		return "epochs", da, db
	case db < da:
		return "steps", da, db
	}
	return "neither", da, db
}

// farCells names the metrics where got is not within tol of the report
// (a missing value counts as not within), as "accuracy 0.6312 vs 0.81".
func farCells(report, got [6]float64, tol float64) []string {
	var far []string
	for i, r := range report {
		if !(math.Abs(got[i]-r) <= tol+1e-9) { // 0.80-0.75 is 0.05000000000000004 in float64
			far = append(far, fmt.Sprintf("%s %s vs %.2f", table2Columns[i], f4(got[i]), r))
		}
	}
	return far
}

// reproducer runs subcommands into a directory, logging each.
type reproducer struct {
	dir      string
	quick    bool
	common   []string // -data-dir, -backend
	progress io.Writer
}

// step runs `diynn args…` with its output in DIR/logs/NAME.log.
func (r *reproducer) step(name string, args ...string) (string, error) {
	fmt.Fprintf(r.progress, "  %-28s diynn %s\n", name, strings.Join(args, " "))
	start := time.Now()
	var out bytes.Buffer
	code := run(args, &out, &out)
	logPath := filepath.Join(r.dir, "logs", name+".log")
	if err := writeFileAtomic(logPath, out.Bytes()); err != nil {
		return "", err
	}
	if code != 0 {
		return "", fmt.Errorf("%s failed (exit %d); see %s:\n%s", name, code, logPath, lastLines(out.String(), 5))
	}
	fmt.Fprintf(r.progress, "  %-28s done in %.0fs\n", "", time.Since(start).Seconds())
	return out.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func readMetrics(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	return m, json.Unmarshal(b, &m)
}

func num(m map[string]any, key string) float64 {
	if v, ok := m[key].(float64); ok {
		return v
	}
	return math.NaN()
}

func f4(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

var klLine = regexp.MustCompile(`KL divergence ([0-9.]+);`)

// reproduceHeading starts the README.md that reproduce writes first (as a
// marker, "in progress") and last (the tables): how it knows a directory
// of its own, even one an interrupted reproduction left.
const reproduceHeading = "# diynn reproduce\n"

// checkReproduceDir lets reproduce write into dir only if it is new or
// empty, or holds an earlier reproduction and -overwrite was passed: a
// directory of anything else (a training run, a user's files) is never
// written into.
func checkReproduceDir(dir string, overwrite bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return usagef("-out: %v", err)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	ours := err == nil && strings.HasPrefix(string(readme), reproduceHeading)
	var names []string
	for _, e := range entries {
		if e.Name() != ".lock" {
			names = append(names, e.Name())
		}
	}
	switch {
	case len(names) == 0:
		return nil
	case !ours:
		return usagef("-out %s holds files that are not a reproduction's (%s): choose a new or empty directory", dir, strings.Join(names, ", "))
	case !overwrite:
		return usagef("-out %s already holds a reproduction: pass -overwrite to replace it, or choose another -out", dir)
	}
	return nil
}

func reproduceCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("diynn reproduce", flag.ContinueOnError)
	out := fs.String("out", "runs/reproduce", "directory for every run, figure and the summary README.md")
	quick := fs.Bool("quick", false, "a small version of the same pipeline (subsets, few epochs and iterations): minutes instead of hours")
	dataDir := fs.String("data-dir", "", "directory with the dataset files")
	backendName := fs.String("backend", "auto", "auto, cpu, opencl or cuda")
	reportSettings := fs.Bool("report-settings", true, "also train the autoencoders with the report's settings")
	overwrite := fs.Bool("overwrite", false, "replace an earlier reproduction in -out")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if err := checkBackendName(*backendName); err != nil {
		return err
	}
	if err := refuseEmpty(fs, "data-dir"); err != nil {
		return err
	}
	r := &reproducer{dir: *out, quick: *quick, common: []string{"-backend", *backendName}, progress: stdout}
	var imageDataDir []string // for the steps that read image datasets: dots and iris need no files
	if *dataDir != "" {
		imageDataDir = []string{"-data-dir", *dataDir}
	}
	if strings.TrimSpace(*out) == "" {
		return usagef("-out is empty: name a directory (default runs/reproduce)")
	}
	if st, err := os.Stat(*out); err == nil && !st.IsDir() {
		return usagef("-out %s is a file, not a directory", *out)
	}
	if err := checkReproduceDir(*out, *overwrite); err != nil { // before anything is created
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return usagef("-out: %v", err)
	}
	lock, err := rundir.Acquire(*out)
	if err != nil {
		if errors.Is(err, rundir.ErrBusy) {
			return usagef("-out %v", err)
		}
		return usagef("-out: %v", err)
	}
	defer lock.Release()
	if err := checkReproduceDir(*out, *overwrite); err != nil { // again, now that no other run can write
		return err
	}
	if err := writeFileAtomic(filepath.Join(*out, "README.md"),
		[]byte(reproduceHeading+"\nIn progress (started "+time.Now().UTC().Format("2006-01-02 15:04 UTC")+"): this file gets the tables when every experiment is done.\n")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(*out, "logs"), 0o755); err != nil {
		return err
	}
	var trainOverwrite []string
	if *overwrite {
		trainOverwrite = []string{"-overwrite"}
	}
	// Quick mode: seeded subsets, two epochs, short t-SNE runs.
	trainExtra, aeExtra := []string{}, []string{}
	tsneIters, tsnePoints := "3000", ""
	if *quick {
		trainExtra = []string{"-limit", "3000", "-epochs", "2"}
		aeExtra = []string{"-limit", "3000", "-epochs", "2"}
		tsneIters, tsnePoints = "300", "600"
	}
	train := func(name string, args ...string) (map[string]any, error) {
		dir := filepath.Join(*out, name)
		full := append(append(append([]string{"train", "-quiet", "-out", dir}, r.common...), trainOverwrite...), args...)
		if i := slices.Index(args, "-data"); i >= 0 && i+1 < len(args) && imageData(args[i+1]) {
			full = append(full, imageDataDir...)
		}
		if _, err := r.step(name, full...); err != nil {
			return nil, err
		}
		return readMetrics(filepath.Join(dir, "metrics.json"))
	}
	var md strings.Builder
	fmt.Fprintf(&md, reproduceHeading+"\nWritten by `diynn reproduce -out %s%s` on %s. Each run's outputs are in its folder, its log in `logs/`.\n\n",
		*out, map[bool]string{true: " -quick", false: ""}[*quick], time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	if *quick {
		md.WriteString("**Quick mode**: subsets of 3000 training and 600 evaluation samples, 2 epochs, t-SNE on 600 points for 300 iterations. The numbers show that the pipeline works, not what the models reach.\n\n")
	}

	// Experiment 1: a two-layer network on synthetic 2-D data.
	fmt.Fprintln(stdout, "experiment 1: two-layer network on synthetic dots")
	m1, err := train("exp1-dots", append([]string{"-data", "dots", "-model", "linear(2,16) tanh linear(16,4)", "-lr", "0.01"}, trainExtra...)...)
	if err != nil {
		return err
	}
	fmt.Fprintf(&md, "## Experiment 1: two-layer network on dots\n\nFour Gaussian blobs, `linear(2,16) tanh linear(16,4)`: test accuracy %s.\n\n![curves](exp1-dots/curves.png)\n\n", f4(num(m1, "accuracy")))

	// Experiment 2 (Table 2): the classifiers, three ways.
	fmt.Fprintln(stdout, "experiment 2: classifiers (Table 2)")
	md.WriteString(table2Intro)
	var far []string
	for _, c := range table2Models {
		data := c.data
		if c.data == "kmnist" {
			data += " (test file only)"
		}
		runs := []struct{ name, label string }{{"exp2-" + c.name + "-report-epochs", "ours, report's settings, iterations = epochs (batch " + strconv.Itoa(c.reportBatch) + ")"},
			{"exp2-" + c.name + "-report-steps", "ours, report's settings, iterations = full-batch steps"}, {"exp2-" + c.name, "ours, our defaults"}}
		var got [3][6]float64
		for i, run := range runs {
			args := []string{"-data", c.data, "-model", c.name}
			if c.data == "kmnist" {
				args = append(args, "-test-only")
			}
			if i < 2 {
				args = append(args, "-report")
			}
			batch := c.trainSize
			if *quick {
				if c.data == "iris" {
					args = append(args, "-epochs", "20")
				} else {
					args = append(args, trainExtra...)
					batch = min(batch, 3000) // -limit 3000
				}
			}
			if i == 1 {
				args = append(args, "-batch", strconv.Itoa(batch))
			}
			m, err := train(run.name, args...)
			if err != nil {
				return err
			}
			got[i] = table2Metrics(m)
		}
		set := map[string]string{"iris": "80/20 of the training file", "kmnist": "80/20 of the test file"}[c.data]
		if set == "" {
			set = "official test file"
		}
		row := func(who, eval string, v [6]float64) {
			fmt.Fprintf(&md, "| %s | %s | %s | %s |", c.name, data, who, eval)
			for _, x := range v {
				fmt.Fprintf(&md, " %s |", f4(x))
			}
			md.WriteString("\n")
		}
		row("report", "80/20 of the training file", reportTable2[c.name])
		row(runs[0].label, "80/20 of the "+map[bool]string{true: "test", false: "training"}[c.data == "kmnist"]+" file", got[0])
		row(runs[1].label, "80/20 of the "+map[bool]string{true: "test", false: "training"}[c.data == "kmnist"]+" file", got[1])
		row(runs[2].label, set, got[2])
		nearer, da, db := nearerReading(reportTable2[c.name], got[0], got[1])
		fmt.Fprintf(&md, "| %s | | nearer the report: %s (mean absolute difference: epochs %.3f, steps %.3f) | | | | | | | |\n", c.name, nearer, da, db)
		for i, reading := range []string{"epochs", "steps"} {
			for _, cell := range farCells(reportTable2[c.name], got[i], 0.05) {
				far = append(far, fmt.Sprintf("%s (%s) %s", c.name, reading, cell))
			}
		}
	}
	md.WriteString("\nEvery precision, recall and F1 is the macro average (the unweighted mean over the classes); the report does not say which averaging it used. " +
		"The report's runs evaluate on 20% of the training file; our defaults on the official test file (Iris has none: 80/20 of its 150; kmnist: 80/20 of its test file, whose training images are not here).\n\n")
	if len(far) > 0 {
		fmt.Fprintf(&md, "Not within 0.05 of the report at its settings: %s.\n\n", strings.Join(far, "; "))
	} else {
		md.WriteString("Every cell at the report's settings is within 0.05 of the report's.\n\n")
	}
	md.WriteString("![fmnist-relu](exp2-fmnist-relu/confusion.png)\n\n")

	// Experiment 3 (Table 3): the autoencoders.
	fmt.Fprintln(stdout, "experiment 3: autoencoders (Table 3)")
	md.WriteString("## Table 3: autoencoders, test binary cross-entropy\n\n| model | ours | report's settings, our run | report |\n|---|---|---|---|\n")
	for _, ae := range []string{"ae1", "ae2", "ae3", "ae4"} {
		ours, err := train("exp3-"+ae, append([]string{"-data", "fashion-mnist", "-model", ae}, aeExtra...)...)
		if err != nil {
			return err
		}
		theirs := math.NaN()
		if *reportSettings {
			m, err := train("exp3-"+ae+"-report", append([]string{"-data", "fashion-mnist", "-model", ae, "-report"}, aeExtra...)...)
			if err != nil {
				return err
			}
			theirs = num(m, "eval_bce")
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %.3f |\n", ae, f4(num(ours, "eval_bce")), f4(theirs), reportBCE[ae])
	}
	md.WriteString("\n![ae2 reconstructions](exp3-ae2/reconstructions.png)\n\n")

	// Experiment 4 (Table 4): t-SNE of the ae2 and ae4 codes.
	fmt.Fprintln(stdout, "experiment 4: t-SNE of the ae2 and ae4 latent codes (Table 4)")
	md.WriteString("## Table 4: t-SNE of the latent codes (Fashion-MNIST test images), KL divergence\n\n| codes | 2-D (perplexity 30) | report | 3-D (perplexity 25, exaggeration 20) | report |\n|---|---|---|---|---|\n")
	for _, ae := range []string{"ae2", "ae4"} {
		prefix := filepath.Join(*out, "exp4-"+ae+"-latents")
		embedArgs := append(append([]string{"embed", "-model", filepath.Join(*out, "exp3-"+ae, "model.safetensors"), "-out", prefix}, r.common...), imageDataDir...)
		if tsnePoints != "" {
			embedArgs = append(embedArgs, "-limit", tsnePoints)
		}
		if _, err := r.step("exp4-"+ae+"-embed", embedArgs...); err != nil {
			return err
		}
		kl := map[string]string{}
		for _, v := range []struct{ dims, perp, exag string }{{"2", "30", "12"}, {"3", "25", "20"}} {
			name := fmt.Sprintf("exp4-%s-tsne-%sd", ae, v.dims)
			outp, err := r.step(name, "tsne", "-in", prefix+".csv", "-dims", v.dims, "-perplexity", v.perp, "-exaggeration", v.exag,
				"-iters", tsneIters, "-quiet", "-out", filepath.Join(*out, name), "-title", fmt.Sprintf("t-SNE of %s codes (%s-D)", ae, v.dims))
			if err != nil {
				return err
			}
			if m := klLine.FindStringSubmatch(outp); m != nil {
				kl[v.dims] = m[1]
			}
		}
		fmt.Fprintf(&md, "| %s | %s | %.3f | %s | %.3f |\n", ae, kl["2"], reportKL[ae+"-2d"], kl["3"], reportKL[ae+"-3d"])
	}
	md.WriteString("\nThe report's four values are given in one list; we read them as ae2 2-D, ae2 3-D, ae4 2-D, ae4 3-D.\n\n![ae2 2-D](exp4-ae2-tsne-2d.png)\n![ae4 3-D](exp4-ae4-tsne-3d.png)\n\n")

	// Table 5: classifiers on the autoencoder's reconstructions and codes.
	fmt.Fprintln(stdout, "experiment 5: classifiers on ae2 reconstructions and codes (Table 5)")
	md.WriteString("## Table 5: fmnist-relu on ae2's outputs\n\n| features | values per image | accuracy | macro F1 |\n|---|---|---|---|\n")
	raw, err := readMetrics(filepath.Join(*out, "exp2-fmnist-relu", "metrics.json"))
	if err != nil {
		return err
	}
	fmt.Fprintf(&md, "| raw pixels | 784 | %s | %s |\n", f4(num(raw, "accuracy")), f4(num(raw, "macro_f1")))
	for _, feat := range []string{"recon", "latent"} {
		m, err := train("exp5-"+feat, append([]string{"-data", "fashion-mnist", "-model", "fmnist-relu",
			"-preprocess", filepath.Join(*out, "exp3-ae2", "model.safetensors"), "-features", feat}, trainExtra...)...)
		if err != nil {
			return err
		}
		width := "784"
		if feat == "latent" {
			width = "30"
		}
		fmt.Fprintf(&md, "| ae2 %s | %s | %s | %s |\n", feat, width, f4(num(m, "accuracy")), f4(num(m, "macro_f1")))
	}
	// Experiment 6: the report's perspectives — convolutional networks.
	fmt.Fprintln(stdout, "experiment 6: convolutional networks (the report's perspectives)")
	md.WriteString("## Convolutional networks (the report's perspectives)\n\n| model | data | accuracy | macro F1 | test loss | seconds |\n|---|---|---|---|---|---|\n")
	for _, c := range []struct{ name, data string }{{"fmnist-cnn", "fashion-mnist"}, {"mnist-cnn", "mnist"}} {
		m, err := train("exp6-"+c.name, append([]string{"-data", c.data, "-model", c.name}, trainExtra...)...)
		if err != nil {
			return err
		}
		fmt.Fprintf(&md, "| %s | %s | %s | %s | %s | %.0f |\n", c.name, c.data, f4(num(m, "accuracy")), f4(num(m, "macro_f1")),
			f4(num(m, "eval_loss")), num(m, "seconds"))
	}
	conv, err := train("exp6-conv-ae", append([]string{"-data", "fashion-mnist", "-model", "conv-ae"}, aeExtra...)...)
	if err != nil {
		return err
	}
	ae2, err := readMetrics(filepath.Join(*out, "exp3-ae2", "metrics.json"))
	if err != nil {
		return err
	}
	ae3, err := readMetrics(filepath.Join(*out, "exp3-ae3", "metrics.json"))
	if err != nil {
		return err
	}
	fmt.Fprintf(&md, "\nConvolutional autoencoder `conv-ae` (a 32-value code), test binary cross-entropy %s, beside ae2 (30 values) %s and ae3 (32 values) %s of Table 3.\n\n![conv-ae reconstructions](exp6-conv-ae/reconstructions.png)\n\n",
		f4(num(conv, "eval_bce")), f4(num(ae2, "eval_bce")), f4(num(ae3, "eval_bce")))
	embedArgs := append(append([]string{"embed", "-model", filepath.Join(*out, "exp6-conv-ae", "model.safetensors"), "-out", filepath.Join(*out, "exp6-conv-ae-latents")}, r.common...), imageDataDir...)
	if tsnePoints != "" {
		embedArgs = append(embedArgs, "-limit", tsnePoints)
	}
	if _, err := r.step("exp6-conv-ae-embed", embedArgs...); err != nil {
		return err
	}

	if err := writeFileAtomic(filepath.Join(*out, "README.md"), []byte(md.String())); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, "README.md"))
	return nil
}
