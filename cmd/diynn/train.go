package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/figures"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
	"github.com/diynn/diynn/train"
)

var errHelp = flag.ErrHelp

// parseFlags parses fs, turning its errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func parseSchedule(s string, lr float64, epochs int) (nn.Schedule, error) {
	parts := strings.Split(s, ":")
	num := func(i int) (float64, error) {
		v, err := strconv.ParseFloat(parts[i], 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return 0, usagef("-schedule %q: %q is not a positive number", s, parts[i])
		}
		return v, nil
	}
	switch {
	case s == "const":
		return nn.Constant(lr), nil
	case s == "cosine":
		return nn.Cosine{Base: lr, Min: lr / 100, Epochs: epochs}, nil
	case parts[0] == "exp" && len(parts) == 2:
		g, err := num(1)
		return nn.Exponential{Base: lr, Gamma: g}, err
	case parts[0] == "step" && len(parts) == 3:
		e, err := num(1)
		if err != nil {
			return nil, err
		}
		if e != math.Trunc(e) {
			return nil, usagef("-schedule %q: the step length must be a whole number of epochs", s)
		}
		g, err := num(2)
		return nn.Step{Base: lr, Every: int(e), Gamma: g}, err
	}
	return nil, usagef("-schedule %q: want const, exp:GAMMA, step:EPOCHS:GAMMA or cosine", s)
}

func newOptimizer(name string, lr float64) (nn.Optimizer, error) {
	switch name {
	case "sgd":
		return nn.NewSGD(lr), nil
	case "momentum":
		return &nn.SGD{LR: lr, Momentum: 0.9}, nil
	case "adam":
		return nn.NewAdam(lr), nil
	case "adamw":
		return nn.NewAdamW(lr, 0.01), nil
	}
	return nil, usagef("-optim %q: want sgd, momentum, adam or adamw", name)
}

// loadData returns the training data and the evaluation data: the official
// test split, or a seeded hold-out of val of the training set.
func loadData(name, dir string, noDownload, testOnly bool, val float64, seed uint64, progress io.Writer) (tr, te *data.Dataset, err error) {
	if name == "dots" {
		rng := rand.New(rand.NewPCG(seed, 1))
		if tr, err = data.Dots(data.FourGaussians, 4000, 0.4, rng); err == nil {
			te, err = data.Dots(data.FourGaussians, 1000, 0.4, rng)
		}
	} else {
		if _, known := data.Sources[name]; !known && name != "iris" {
			return nil, nil, usagef("-data %q: want fashion-mnist, kmnist, mnist, iris or dots", name)
		}
		tr, te, err = data.Load(name, data.Options{Dir: dir, NoDownload: noDownload, Progress: progress, TestOnly: testOnly})
		if err != nil && !testOnly && strings.Contains(err.Error(), "train-images") {
			return nil, nil, fmt.Errorf("%w\n(without the training images, -test-only trains on 80%% of the test file)", err)
		}
		if testOnly {
			if te == nil {
				return nil, nil, usagef("-test-only: %s has no test split", name)
			}
			tr, te = te, nil
			if val == 0 {
				val = 0.2
			}
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if te == nil && val == 0 {
		val = 0.2 // Iris has no official test split
	}
	if val > 0 {
		if tr, te, err = tr.Split(val, rand.New(rand.NewPCG(seed, 2))); err != nil {
			return nil, nil, usagef("-val: %v", err)
		}
	}
	return tr, te, nil
}

func trainCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("diynn train", flag.ContinueOnError)
	dataName := fs.String("data", "fashion-mnist", "dataset: fashion-mnist, kmnist, mnist, iris or dots")
	dataDir := fs.String("data-dir", "", "directory with the dataset files (default $DIYNN_DATA, then the user cache, then download)")
	noDownload := fs.Bool("no-download", false, "fail instead of downloading missing dataset files")
	modelFlag := fs.String("model", "fmnist-relu", "preset ("+model.PresetNames()+") or a spec such as \"linear(784,176) tanh linear(176,42) relu linear(42,10)\"")
	backendName := fs.String("backend", "auto", "auto, cpu, opencl or cuda")
	epochs := fs.Int("epochs", 0, "passes over the training set (default: the preset's, else 20)")
	batch := fs.Int("batch", 0, "mini-batch size (default: the preset's, else 128)")
	lr := fs.Float64("lr", 0, "learning rate (default: the preset's, else 0.001)")
	optim := fs.String("optim", "", "sgd, momentum, adam or adamw (default: the preset's, else adam)")
	schedule := fs.String("schedule", "", "const, exp:GAMMA, step:EPOCHS:GAMMA or cosine (default: the preset's, else const)")
	seed := fs.Uint64("seed", 1, "random seed for weights, shuffles and splits")
	val := fs.Float64("val", 0, "fraction of the training set held out for evaluation (default: the official test split; iris: 0.2)")
	testOnly := fs.Bool("test-only", false, "use only the official test file, split by -val (default 0.2): for kmnist, whose training images may be missing")
	out := fs.String("out", "", "directory for model.safetensors, history.csv, curves.png, confusion.png, metrics.json (default runs/MODEL-DATA)")
	resume := fs.Bool("resume", false, "continue from OUT/checkpoint.safetensors if it exists")
	trainMetrics := fs.Bool("train-metrics", true, "also measure training-set accuracy after each epoch")
	limit := fs.Int("limit", 0, "use a seeded sample of at most N training and N/5 evaluation samples (quick runs)")
	quiet := fs.Bool("quiet", false, "print only the final metrics")
	taskFlag := fs.String("task", "", "classify or reconstruct (default: the preset's, else classify)")
	encoder := fs.Int("encoder", 0, "autoencoders: how many spec layers make the encoder (default: the preset's)")
	preprocessModel := fs.String("preprocess", "", "an autoencoder's model.safetensors: train on its reconstructions or latent codes (see -features)")
	features := fs.String("features", "recon", "with -preprocess: recon or latent (the classifier's first layer then takes the latent width)")
	reportSettings := fs.Bool("report", false, "train with the report's settings for the preset (learning rate, optimizer, schedule, epochs) instead of ours")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// Preset defaults, overridden by explicit flags.
	p, isPreset := model.Presets[*modelFlag]
	if !isPreset {
		if _, err := model.Parse(*modelFlag); err != nil {
			if !strings.ContainsAny(*modelFlag, "( ") {
				return usagef("-model %q is neither a preset (%s) nor a spec: %v", *modelFlag, model.PresetNames(), err)
			}
			return usageError{err.Error()}
		}
		p = model.Preset{Name: "custom", Spec: *modelFlag, Epochs: 20, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "const"}
	}
	if *reportSettings {
		if p.Report == nil {
			return usagef("-report: %s has no report settings recorded (presets that do: ae1, ae2, ae3, ae4)", p.Name)
		}
		r := p.Report
		p.Epochs, p.Batch, p.Optim, p.LR, p.Schedule = r.Epochs, r.Batch, r.Optim, r.LR, r.Schedule
		p.Name += "-report"
	}
	if set["task"] {
		p.Task = *taskFlag
	}
	if set["encoder"] {
		p.Encoder = *encoder
	}
	task := train.Classify
	switch p.Task {
	case "", "classify":
	case "reconstruct":
		task = train.Reconstruct
	default:
		return usagef("-task %q: want classify or reconstruct", p.Task)
	}
	if set["epochs"] {
		p.Epochs = *epochs
	}
	if set["batch"] {
		p.Batch = *batch
	}
	if set["lr"] {
		p.LR = *lr
	}
	if set["optim"] {
		p.Optim = *optim
	}
	if set["schedule"] {
		p.Schedule = *schedule
	}
	if p.Epochs <= 0 || p.Batch <= 0 || !(p.LR > 0) || math.IsInf(p.LR, 0) {
		return usagef("-epochs (%d), -batch (%d) and -lr (%v) must be positive", p.Epochs, p.Batch, p.LR)
	}
	if *val < 0 || *val >= 1 {
		return usagef("-val %v: want a fraction in [0, 1)", *val)
	}
	opt, err := newOptimizer(p.Optim, p.LR)
	if err != nil {
		return err
	}
	sched, err := parseSchedule(p.Schedule, p.LR, p.Epochs)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join("runs", p.Name+"-"+*dataName)
	}
	log := stdout
	if *quiet {
		log = io.Discard
	}

	b, err := openBackend(*backendName, log)
	if err != nil {
		return err
	}
	defer b.Close()
	trainSet, testSet, err := loadData(*dataName, *dataDir, *noDownload, *testOnly, *val, *seed, log)
	if err != nil {
		return err
	}
	if *limit > 0 {
		trainSet, testSet = sample(trainSet, *limit, *seed), sample(testSet, max(*limit/5, 1), *seed)
	}
	if *preprocessModel != "" {
		if err := preprocess(b, *preprocessModel, *features, trainSet, testSet); err != nil {
			return err
		}
		if *features == "latent" {
			if p.Spec, err = withInputs(p.Spec, trainSet.Features); err != nil {
				return usageError{err.Error()}
			}
		}
		fmt.Fprintf(log, "features: %s of %s (%d values per sample)\n", *features, *preprocessModel, trainSet.Features)
	}
	m, err := model.Build(b, p.Spec, rand.New(rand.NewPCG(*seed, 0)))
	if err != nil {
		return usageError{err.Error()}
	}
	wantOut, what := trainSet.Classes(), "classes"
	if task == train.Reconstruct {
		wantOut, what = trainSet.Features, "features to reconstruct"
	}
	if m.Inputs != trainSet.Features || m.Outputs != wantOut {
		return usagef("-model %q takes %d inputs and gives %d outputs, but %s has %d features and %d %s",
			m.Spec, m.Inputs, m.Outputs, *dataName, trainSet.Features, wantOut, what)
	}
	if task == train.Reconstruct && (p.Encoder <= 0 || p.Encoder >= len(m.Layers)) {
		return usagef("-encoder %d: an autoencoder needs the number of its encoder layers, between 1 and %d", p.Encoder, len(m.Layers)-1)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(log, "data %s: %d training, %d evaluation samples; model %s\n", *dataName, trainSet.N, testSet.N, m.Spec)
	fmt.Fprintf(log, "training %d epochs, batch %d, %s lr %g, schedule %s, seed %d → %s\n", p.Epochs, p.Batch, p.Optim, p.LR, p.Schedule, *seed, *out)

	start := time.Now()
	checkpoint := filepath.Join(*out, "checkpoint.safetensors")
	hist, err := train.Fit(m, trainSet, testSet, train.Config{
		Task: task, Epochs: p.Epochs, Batch: p.Batch, Optimizer: opt, Schedule: sched, Seed: *seed,
		Progress: log, Bar: !*quiet && isTerminal(stdout), TrainMetrics: *trainMetrics,
		HistoryCSV: filepath.Join(*out, "history.csv"), Checkpoint: checkpoint, Resume: *resume,
	})
	if err != nil {
		return err
	}
	seconds := time.Since(start).Seconds()
	taskName := "classify"
	if task == train.Reconstruct {
		taskName = "reconstruct"
	}
	meta := map[string]string{"data": *dataName, "test_only": strconv.FormatBool(*testOnly),
		"classes": strings.Join(trainSet.ClassNames, "\x1f"), "epochs": strconv.Itoa(p.Epochs),
		model.MetaTask: taskName, model.MetaEncoder: strconv.Itoa(p.Encoder)}
	if err := m.Save(filepath.Join(*out, "model.safetensors"), meta); err != nil {
		return err
	}
	os.Remove(checkpoint) // the final model supersedes it

	series := func(f func(train.Epoch) float64) []float64 {
		v := make([]float64, len(hist))
		for i, e := range hist {
			v[i] = f(e)
		}
		return v
	}
	title := p.Name + " on " + *dataName
	losses := []figures.Series{{Name: "train", Values: series(func(e train.Epoch) float64 { return e.TrainLoss })},
		{Name: "test", Values: series(func(e train.Epoch) float64 { return e.TestLoss })}}
	var accuracies []figures.Series
	if task == train.Classify {
		accuracies = []figures.Series{{Name: "train", Values: series(func(e train.Epoch) float64 { return e.TrainAcc })},
			{Name: "test", Values: series(func(e train.Epoch) float64 { return e.TestAcc })}}
	}
	if err := figures.Curves(filepath.Join(*out, "curves.png"), title, losses, accuracies); err != nil {
		return err
	}
	last := hist[len(hist)-1]
	metrics := map[string]any{
		"model": m.Spec, "preset": p.Name, "task": taskName, "data": *dataName, "backend": b.Name(), "device": b.Device(),
		"epochs": p.Epochs, "batch": p.Batch, "optimizer": p.Optim, "lr": p.LR, "schedule": p.Schedule, "seed": *seed,
		"train_samples": trainSet.N, "eval_samples": testSet.N, "seconds": seconds, "train_loss": last.TrainLoss,
	}
	if task == train.Reconstruct {
		return finishAutoencoder(m, p, testSet, metrics, *out, title, seconds, stdout, log)
	}

	testLoss, report, _, err := train.Evaluate(m, testSet)
	if err != nil {
		return err
	}
	if err := figures.Confusion(filepath.Join(*out, "confusion.png"), title+" (evaluation set)", report.Confusion, report.Classes); err != nil {
		return err
	}
	for k, v := range map[string]any{
		"train_accuracy": nanToNil(last.TrainAcc), "test_loss": testLoss,
		"accuracy": report.Accuracy, "macro_precision": report.MacroPrecision, "macro_recall": report.MacroRecall,
		"macro_f1": report.MacroF1, "classes": report.Classes, "precision": report.Precision, "recall": report.Recall,
		"f1": report.F1, "support": report.Support, "confusion": report.Confusion,
	} {
		metrics[k] = v
	}
	if err := writeMetricsJSON(filepath.Join(*out, "metrics.json"), metrics); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s on %s, %d epochs in %.1fs; evaluation loss %.4f\n\n", m.Spec, *dataName, p.Epochs, seconds, testLoss)
	if err := report.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintf(log, "\nwrote %s/{model.safetensors,history.csv,curves.png,confusion.png,metrics.json}\n", *out)
	return nil
}

// finishAutoencoder writes an autoencoder's test BCE and its reconstruction
// grid: two test images of every class over their reconstructions.
func finishAutoencoder(m *model.Model, p model.Preset, test *data.Dataset, metrics map[string]any, out, title string, seconds float64, stdout, log io.Writer) error {
	bce, err := train.EvaluateReconstruction(m, test)
	if err != nil {
		return err
	}
	metrics["test_bce"] = bce
	metrics["test_loss"] = bce
	byClass := make([][]int, test.Classes())
	for i, y := range test.Y {
		if c := int(y); len(byClass[c]) < 2 {
			byClass[c] = append(byClass[c], i)
		}
	}
	var picks []int
	for _, is := range byClass {
		picks = append(picks, is...)
	}
	sample := test.Subset(picks)
	b := m.Net.Params()[0].Value.Backend()
	x, err := tensor.FromSlice(b, sample.X, sample.N, sample.Features)
	if err != nil {
		return err
	}
	defer x.Free()
	y, err := m.Net.Forward(x)
	if err != nil {
		return err
	}
	rec, err := y.Data()
	if err != nil {
		return err
	}
	side := int(math.Sqrt(float64(test.Features)))
	if side*side == test.Features {
		origs, recs, labels := make([][]float32, sample.N), make([][]float32, sample.N), make([]string, sample.N)
		for i := range origs {
			origs[i] = sample.Row(i)
			recs[i] = rec[i*test.Features : (i+1)*test.Features]
			labels[i] = test.ClassNames[int(sample.Y[i])]
		}
		if err := figures.ReconstructionGrid(filepath.Join(out, "reconstructions.png"), origs, recs, labels, side, side, 3); err != nil {
			return err
		}
	}
	if err := writeMetricsJSON(filepath.Join(out, "metrics.json"), metrics); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s (%s), %d epochs in %.1fs; test binary cross-entropy %.4f\n", title, m.Spec, p.Epochs, seconds, bce)
	fmt.Fprintf(log, "wrote %s/{model.safetensors,history.csv,curves.png,reconstructions.png,metrics.json}\n", out)
	return nil
}

func nanToNil(v float64) any {
	if math.IsNaN(v) {
		return nil
	}
	return v
}

// writeMetricsJSON writes v as indented JSON, atomically.
func writeMetricsJSON(path string, v any) error {
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(js, '\n'))
}

// isTerminal reports whether w is a character device, where a progress bar
// that rewrites its line makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// sample returns a seeded random subset of at most n samples of d.
func sample(d *data.Dataset, n int, seed uint64) *data.Dataset {
	if d == nil || d.N <= n {
		return d
	}
	return d.Subset(rand.New(rand.NewPCG(seed, 3)).Perm(d.N)[:n])
}

// loadEvalData loads a dataset for evaluating a saved model: for an image
// dataset only the files the split needs (kmnist's test file works alone).
func loadEvalData(name, dir string, noDownload bool, split string, progress io.Writer) (tr, te *data.Dataset, err error) {
	if name == "" {
		return nil, nil, usagef("the model does not record its dataset: pass -data")
	}
	if _, isIDX := data.Sources[name]; isIDX {
		return data.Load(name, data.Options{Dir: dir, NoDownload: noDownload, Progress: progress, TestOnly: split == "test"})
	}
	return loadData(name, dir, noDownload, false, 0, 1, progress)
}

// savedModelFlags are the flags of commands that apply a saved model to a
// split of a dataset (eval, embed).
type savedModelFlags struct {
	model, data, dataDir, split, backend *string
	noDownload                           *bool
}

func addSavedModelFlags(fs *flag.FlagSet, modelHelp string) *savedModelFlags {
	return &savedModelFlags{
		model:      fs.String("model", "", modelHelp),
		data:       fs.String("data", "", "dataset (default: the one the model was trained on)"),
		dataDir:    fs.String("data-dir", "", "directory with the dataset files"),
		noDownload: fs.Bool("no-download", false, "fail instead of downloading missing dataset files"),
		split:      fs.String("split", "test", "test or train"),
		backend:    fs.String("backend", "auto", "auto, cpu, opencl or cuda"),
	}
}

// open checks the flags, opens the backend, loads the model and the split;
// the caller closes the backend.
func (f *savedModelFlags) open(stderr io.Writer) (backend.Backend, *model.Model, map[string]string, *data.Dataset, error) {
	if *f.model == "" {
		return nil, nil, nil, nil, usagef("-model FILE is required")
	}
	if *f.split != "test" && *f.split != "train" {
		return nil, nil, nil, nil, usagef("-split %q: want test or train", *f.split)
	}
	b, err := openBackend(*f.backend, stderr)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	m, file, err := model.Load(b, *f.model)
	if err != nil {
		b.Close()
		return nil, nil, nil, nil, err
	}
	if *f.data == "" {
		*f.data = file.Metadata["data"]
	}
	tr, te, err := loadEvalData(*f.data, *f.dataDir, *f.noDownload, *f.split, stderr)
	if err != nil {
		b.Close()
		return nil, nil, nil, nil, err
	}
	d := te
	if *f.split == "train" {
		d = tr
	}
	if d.Features != m.Inputs {
		b.Close()
		return nil, nil, nil, nil, usagef("%s has %d features; the model %s takes %d", *f.data, d.Features, m.Spec, m.Inputs)
	}
	return b, m, file.Metadata, d, nil
}

func evalCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("diynn eval", flag.ContinueOnError)
	f := addSavedModelFlags(fs, "a model.safetensors written by diynn train")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	b, m, _, d, err := f.open(stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	if d.Classes() != m.Outputs {
		return usagef("%s has %d classes; the model %s has %d outputs", *f.data, d.Classes(), m.Spec, m.Outputs)
	}
	loss, report, _, err := train.Evaluate(m, d)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s on %s (%s split, %d samples): loss %.4f\n\n", m.Spec, *f.data, *f.split, d.N, loss)
	return report.WriteTable(stdout)
}
