package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/figures"
	"github.com/diynn/diynn/metrics"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/train"
)

var errHelp = flag.ErrHelp

// parseFlags parses fs, turning its errors into usage errors: -h prints
// the flags to stdout (as diynn help does), a mistake is named on its own.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var msg bytes.Buffer
	fs.SetOutput(&msg)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		stdout.Write(msg.Bytes())
		return errHelp
	case err != nil: // the error alone: the whole flag list would bury it
		return usagef("%v (run '%s -h' for the flags)", err, fs.Name())
	}
	fs.SetOutput(stderr)
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// parseSchedule turns -schedule into factors of the optimizer's rate:
// cosine anneals to 1/100 of it over the run's epochs.
func parseSchedule(s string, epochs int) (nn.Schedule, error) {
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
		return nn.Constant{}, nil
	case s == "cosine":
		return nn.Cosine{Epochs: epochs, MinFactor: 0.01}, nil
	case parts[0] == "exp" && len(parts) == 2:
		g, err := num(1)
		return nn.Exponential{Gamma: g}, err
	case parts[0] == "step" && len(parts) == 3:
		e, err := num(1)
		if err != nil {
			return nil, err
		}
		if e != math.Trunc(e) {
			return nil, usagef("-schedule %q: the step length must be a whole number of epochs", s)
		}
		g, err := num(2)
		return nn.Step{Every: int(e), Gamma: g}, err
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

// dataSplit says which samples a run trains and evaluates on; model files
// record it, so that eval measures a model on what it did not train on.
type dataSplit struct {
	name     string
	testOnly bool    // train on the official test file (split by val)
	val      float64 // held-out fraction of the training data; 0: the official test split
	seed     uint64  // the hold-out's and the dots' seed

	maxBytes     int64 // the host memory the loaded data may take (data.Options.MaxBytes)
	hintTestOnly bool  // suggest -test-only when the training images are missing
}

// evalName names the evaluation set in progress lines: the official test
// split, or a validation hold-out of the training data.
func (s dataSplit) evalName() string {
	if s.val > 0 {
		return "validation"
	}
	return "test"
}

// imageData reports whether name is one of the IDX image datasets.
func imageData(name string) bool { _, ok := data.Sources[name]; return ok }

// loadData returns the training data and the evaluation data: the official
// test split, or a seeded hold-out of s.val of the training set. It returns
// s with the hold-out fraction actually used (Iris and -test-only hold out
// 0.2 by default).
func loadData(s dataSplit, dir string, noDownload bool, progress io.Writer) (tr, te *data.Dataset, used dataSplit, err error) {
	switch {
	case s.name == "dots":
		rng := rand.New(rand.NewPCG(s.seed, 1))
		if tr, err = data.Dots(data.FourGaussians, 4000, 0.4, rng); err == nil {
			te, err = data.Dots(data.FourGaussians, 1000, 0.4, rng)
		}
	case s.name == "iris" || imageData(s.name):
		tr, te, err = data.Load(s.name, data.Options{Dir: dir, NoDownload: noDownload, Progress: progress, TestOnly: s.testOnly, MaxBytes: s.maxBytes})
		if err != nil && !s.testOnly && s.hintTestOnly && strings.Contains(err.Error(), "train-images") && strings.Contains(err.Error(), "not found") {
			err = fmt.Errorf("%w\n(without the training images, -test-only trains on 80%% of the test file)", err)
		}
		if errors.Is(err, data.ErrTooLarge) {
			err = usagef("-data %s: %v\n(raise -max-memory if the machine has the memory, or check the files)", s.name, err)
		} else if err != nil { // the files named or found are unusable: the user's to fix
			err = usagef("-data %s: %v", s.name, err)
		}
		if err == nil && s.testOnly {
			tr, te = te, nil
			if s.val == 0 {
				s.val = 0.2
			}
		}
	default:
		return nil, nil, s, usagef("-data %q: want fashion-mnist, kmnist, mnist, iris or dots", s.name)
	}
	if err != nil {
		return nil, nil, s, err
	}
	if te == nil && s.val == 0 {
		s.val = 0.2 // Iris has no official test split
	}
	if s.val > 0 {
		if tr, te, err = tr.Split(s.val, rand.New(rand.NewPCG(s.seed, 2))); err != nil {
			return nil, nil, s, usagef("-val: %v", err)
		}
	}
	return tr, te, s, nil
}

// positive checks a numeric flag: finite and above zero.
func positive(name string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return usagef("-%s %v: want a positive number", name, v)
	}
	return nil
}

// trainOptions are the flags of diynn train.
type trainOptions struct {
	fs                                                      *flag.FlagSet
	dataName, dataDir, modelFlag, backendName, optim        *string
	schedule, out, taskFlag, preprocessModel, features, mem *string
	epochs, batch, limit, encoder                           *int
	lr, val, classWeight                                    *float64
	seed                                                    *uint64
	noDownload, testOnly, resume, overwrite, trainMetrics   *bool
	quiet, reportSettings                                   *bool
}

func newTrainOptions() *trainOptions {
	fs := flag.NewFlagSet("diynn train", flag.ContinueOnError)
	return &trainOptions{fs: fs,
		dataName:     fs.String("data", "fashion-mnist", "dataset: fashion-mnist, kmnist, mnist, iris or dots"),
		dataDir:      fs.String("data-dir", "", "directory with the dataset files (default $DIYNN_DATA, then the user cache, then download)"),
		noDownload:   fs.Bool("no-download", false, "fail instead of downloading missing dataset files"),
		modelFlag:    fs.String("model", "fmnist-relu", "preset ("+model.PresetNames()+") or a spec such as \"linear(784,176) tanh linear(176,42) relu linear(42,10)\""),
		backendName:  fs.String("backend", "auto", "auto, cpu, opencl or cuda"),
		epochs:       fs.Int("epochs", 0, "passes over the training set (default: the preset's, else 20)"),
		batch:        fs.Int("batch", 0, "mini-batch size (default: the preset's, else 128)"),
		lr:           fs.Float64("lr", 0, "learning rate (default: the preset's, else 0.001)"),
		optim:        fs.String("optim", "", "sgd, momentum, adam or adamw (default: the preset's, else adam)"),
		schedule:     fs.String("schedule", "", "const, exp:GAMMA, step:EPOCHS:GAMMA or cosine (default: the preset's, else const)"),
		seed:         fs.Uint64("seed", 1, "random seed for weights, shuffles and splits"),
		val:          fs.Float64("val", 0, "fraction of the training set held out for evaluation (default: the official test split; iris: 0.2)"),
		testOnly:     fs.Bool("test-only", false, "image datasets: use only the official test file, split by -val (default 0.2): for kmnist, whose training images may be missing"),
		out:          fs.String("out", "", "directory for model.safetensors, history.csv, curves.png, confusion.png, metrics.json (default runs/MODEL-DATA)"),
		resume:       fs.Bool("resume", false, "continue the run in -out from its checkpoint (the settings must be the same)"),
		overwrite:    fs.Bool("overwrite", false, "delete the earlier run's files in -out and train again"),
		trainMetrics: fs.Bool("train-metrics", true, "also measure training-set accuracy after each epoch"),
		limit:        fs.Int("limit", 0, "use a seeded sample of at most N training and N/5 evaluation samples (quick runs)"),
		quiet:        fs.Bool("quiet", false, "print only the final metrics"),
		taskFlag: fs.String("task", "", "classify, reconstruct or joint (default: the preset's, else classify); joint: the model outputs a reconstruction followed by class scores "+
			"(a concat[decoder | classifier] on its code) and trains on BCE + -class-weight × cross-entropy"),
		encoder:         fs.Int("encoder", 0, "autoencoders: how many spec layers make the encoder (default: the preset's)"),
		classWeight:     fs.Float64("class-weight", 0, "-task joint: the weight of the classifier's cross-entropy beside the reconstruction's BCE (default: the preset's, else 1)"),
		preprocessModel: fs.String("preprocess", "", "an autoencoder's model.safetensors: train on its reconstructions or latent codes (see -features)"),
		features:        fs.String("features", "recon", "with -preprocess: recon or latent (the classifier's first layer then takes the latent width)"),
		reportSettings: fs.Bool("report", false, "train with the report's settings for the preset (learning rate, optimizer, schedule, epochs) instead of ours; "+
			"for the classifiers also its 80/20 split of the training file (-val 0.2) and its \"iterations\" read as epochs of mini-batch SGD: "+
			"add -batch with the training split's size (iris 120, fashion-mnist 48000, kmnist -test-only 8000) to read them as full-batch gradient steps"),
		mem: fs.String("max-memory", "auto", "refuse a model whose weights, optimizer state and activations need more: bytes such as 4GB or 512MiB; auto sizes it to the device"),
	}
}

// reportPresets lists the presets that have report settings, sorted.
func reportPresets() string {
	var names []string
	for n, p := range model.Presets {
		if p.Report != nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// trainPlan is what settle makes of the flags.
type trainPlan struct {
	preset model.Preset
	task   train.Task
	opt    nn.Optimizer
	sched  nn.Schedule
	limit  int64 // -max-memory; 0: the device's default budget
}

// settle applies the preset, its -report settings and the explicit flags,
// and checks every value, before anything is read or written.
func (o *trainOptions) settle() (*trainPlan, error) {
	set := map[string]bool{}
	o.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	p, isPreset := model.Presets[*o.modelFlag]
	if !isPreset {
		if _, err := model.Parse(*o.modelFlag); err != nil {
			if !strings.ContainsAny(*o.modelFlag, "( ") {
				return nil, usagef("-model %q is neither a preset (%s) nor a spec: %v", *o.modelFlag, model.PresetNames(), err)
			}
			return nil, usageError{err.Error()}
		}
		p = model.Preset{Name: "custom", Spec: *o.modelFlag, Epochs: 20, Batch: 128, Optim: "adam", LR: 1e-3, Schedule: "const"}
	}
	if *o.reportSettings {
		if p.Report == nil {
			return nil, usagef("-report: %s has no report settings recorded (presets that do: %s)", p.Name, reportPresets())
		}
		r := p.Report
		p.Epochs, p.Batch, p.Optim, p.LR, p.Schedule = r.Epochs, r.Batch, r.Optim, r.LR, r.Schedule
		p.Name += "-report"
		// The report's classifiers were measured on 20% of the training
		// file, not on the official test file (its autoencoders were).
		if (p.Task == "" || p.Task == "classify") && !set["val"] {
			*o.val = 0.2
		}
	}
	if set["task"] {
		p.Task = *o.taskFlag
	}
	if set["encoder"] {
		p.Encoder = *o.encoder
	}
	task := train.Classify
	switch p.Task {
	case "", "classify":
		if set["encoder"] {
			return nil, usagef("-encoder applies to autoencoders (-task reconstruct or joint) only")
		}
	case "reconstruct":
		task = train.Reconstruct
	case "joint":
		task = train.Joint
	default:
		return nil, usagef("-task %q: want classify, reconstruct or joint", p.Task)
	}
	if set["class-weight"] {
		if task != train.Joint {
			return nil, usagef("-class-weight applies to joint autoencoders (-task joint) only")
		}
		if !(*o.classWeight > 0) || math.IsInf(*o.classWeight, 0) {
			return nil, usagef("-class-weight %v: want a positive, finite weight", *o.classWeight)
		}
		p.ClassWeight = *o.classWeight
	}
	if set["epochs"] {
		p.Epochs = *o.epochs
	}
	if set["batch"] {
		p.Batch = *o.batch
	}
	if set["lr"] {
		p.LR = *o.lr
	}
	if set["optim"] {
		p.Optim = *o.optim
	}
	if set["schedule"] {
		p.Schedule = *o.schedule
	}
	switch {
	case p.Epochs <= 0:
		return nil, usagef("-epochs %d: want a positive number of epochs", p.Epochs)
	case p.Batch <= 0:
		return nil, usagef("-batch %d: want a positive batch size", p.Batch)
	case *o.limit < 0:
		return nil, usagef("-limit %d: want a positive number of samples (0: all)", *o.limit)
	case !(*o.val >= 0 && *o.val < 1):
		return nil, usagef("-val %v: want a fraction in [0, 1)", *o.val)
	case *o.resume && *o.overwrite:
		return nil, usagef("-resume continues the run in -out and -overwrite deletes it: pass one of them")
	case *o.testOnly && !imageData(*o.dataName):
		return nil, usagef("-test-only applies to the image datasets (fashion-mnist, kmnist, mnist), not %s", *o.dataName)
	case set["data-dir"] && (*o.dataName == "dots" || *o.dataName == "iris"):
		return nil, usagef("-data-dir: %s needs no files (dots is generated, iris is built in)", *o.dataName)
	case set["features"] && *o.preprocessModel == "":
		return nil, usagef("-features applies only with -preprocess AE/model.safetensors")
	case set["val"] && *o.val == 0 && *o.dataName == "iris":
		return nil, usagef("-val 0: iris has no test split, so it needs a held-out fraction in (0, 1) (default 0.2)")
	case set["val"] && *o.val == 0 && *o.testOnly:
		return nil, usagef("-val 0: -test-only trains on part of the test file and needs a held-out fraction in (0, 1) (default 0.2)")
	case set["out"] && strings.TrimSpace(*o.out) == "":
		return nil, usagef("-out is empty: name a directory (default runs/MODEL-DATA)")
	case set["data-dir"] && *o.dataDir == "":
		return nil, usagef("-data-dir is empty: name a directory")
	}
	if set["data-dir"] {
		if st, err := os.Stat(*o.dataDir); err != nil || !st.IsDir() {
			return nil, usagef("-data-dir %s is not a directory", *o.dataDir)
		}
	}
	if err := checkBackendName(*o.backendName); err != nil {
		return nil, err
	}
	if err := positive("lr", p.LR); err != nil {
		return nil, err
	}
	opt, err := newOptimizer(p.Optim, p.LR)
	if err != nil {
		return nil, err
	}
	sched, err := parseSchedule(p.Schedule, p.Epochs)
	if err != nil {
		return nil, err
	}
	limit, err := parseMaxMemory(*o.mem)
	if err != nil {
		return nil, err
	}
	if *o.out == "" {
		*o.out = filepath.Join("runs", p.Name+"-"+*o.dataName)
	}
	if *o.preprocessModel != "" {
		// Recorded absolute, so that eval finds it from any directory.
		if abs, err := filepath.Abs(*o.preprocessModel); err == nil {
			*o.preprocessModel = abs
		}
		for _, f := range []string{"model.safetensors", "checkpoint.safetensors"} {
			if sameFile(*o.preprocessModel, filepath.Join(*o.out, f)) {
				return nil, usagef("-preprocess %s is in -out %s, which this run would overwrite: choose another -out", *o.preprocessModel, *o.out)
			}
		}
	}
	return &trainPlan{preset: p, task: task, opt: opt, sched: sched, limit: limit}, nil
}

func trainCmd(args []string, stdout, stderr io.Writer) error {
	o := newTrainOptions()
	if err := parseFlags(o.fs, args, stdout, stderr); err != nil {
		return err
	}
	plan, err := o.settle()
	if err != nil {
		return err
	}
	p, task, opt, sched, limit := plan.preset, plan.task, plan.opt, plan.sched, plan.limit
	out := *o.out
	ctx, stopSignals := interruptible()
	defer stopSignals()
	if _, err := runDirVerdict(out, *o.resume, *o.overwrite); err != nil {
		return err
	}
	log := stdout
	if *o.quiet {
		log = io.Discard
	}

	b, err := openBackend(*o.backendName, log)
	if err != nil {
		return err
	}
	defer b.Close()
	// Latent codes change the first layer, and a spec that needs the data's
	// shape (convolutions) is checked once the data is read.
	if (*o.features != "latent" || *o.preprocessModel == "") && impliesInput(p.Spec) {
		if err := checkMemory(p.Spec, nil, 0, p.Optim, b, limit); err != nil {
			return err
		}
	}
	split := dataSplit{name: *o.dataName, testOnly: *o.testOnly, val: *o.val, seed: *o.seed, maxBytes: memoryBudget(limit, b), hintTestOnly: true}
	trainSet, testSet, split, err := loadData(split, *o.dataDir, *o.noDownload, log)
	if err != nil {
		return err
	}
	if *o.limit > 0 {
		trainSet, testSet = sample(trainSet, *o.limit, *o.seed), sample(testSet, max(*o.limit/5, 1), *o.seed)
	}
	if *o.preprocessModel != "" {
		if err := preprocess(b, *o.preprocessModel, *o.features, limit, trainSet, testSet); err != nil {
			return err
		}
		if *o.features == "latent" {
			if p.Spec, err = withInputs(p.Spec, trainSet.Features); err != nil {
				return usageError{err.Error()}
			}
		}
		fmt.Fprintf(log, "features: %s of %s (%d values per sample)\n", *o.features, *o.preprocessModel, trainSet.Features)
	}
	if err := checkMemory(p.Spec, trainSet.SampleShape(), min(p.Batch, trainSet.N), p.Optim, b, limit, trainSet, testSet); err != nil {
		return err
	}
	mp, err := planFor(p.Spec, trainSet.SampleShape())
	if err != nil {
		return usageError{err.Error()}
	}
	m, err := mp.Build(b, rand.New(rand.NewPCG(*o.seed, 0)))
	if err != nil {
		return usageError{err.Error()}
	}
	wantOut, what := trainSet.Classes(), "classes"
	switch task {
	case train.Reconstruct:
		wantOut, what = trainSet.Features, "features to reconstruct"
	case train.Joint:
		wantOut, what = trainSet.Features+trainSet.Classes(), "features to reconstruct and classes (a joint autoencoder outputs both)"
	}
	if m.Inputs != trainSet.Features || m.Outputs != wantOut {
		return usagef("-model %q takes %d inputs and gives %d outputs, but %s has %d features and %d %s",
			m.Spec, m.Inputs, m.Outputs, *o.dataName, trainSet.Features, wantOut, what)
	}
	if task != train.Classify && (p.Encoder <= 0 || p.Encoder >= len(m.Layers)) {
		return usagef("-encoder %d: an autoencoder needs the number of its encoder layers, between 1 and %d", p.Encoder, len(m.Layers)-1)
	}
	if task != train.Classify {
		if lo, hi := minMax(trainSet.X); lo < 0 || hi > 1 {
			return usagef("-task reconstruct: binary cross-entropy needs features in [0, 1], but %s's go from %g to %g", *o.dataName, lo, hi)
		}
	}
	if ctx.Err() != nil {
		return exitError{code: 130, err: errors.New("interrupted before training started; nothing was written")}
	}
	settings, err := runSettings(split, p, taskName(task), *o.limit, *o.preprocessModel, *o.features, trainSet, testSet)
	if err != nil {
		return err
	}
	rd, err := claimRunDir(out, *o.resume, *o.overwrite, stderr)
	if err != nil {
		return err
	}
	succeeded := false
	defer func() {
		if succeeded {
			rd.release()
		} else {
			rd.abandon()
		}
	}()
	fmt.Fprintf(log, "data %s: %d training, %d %s samples; model %s\n", *o.dataName, trainSet.N, testSet.N, split.evalName(), m.Spec)
	fmt.Fprintf(log, "training %s, batch %d, %s lr %g, schedule %s, seed %d → %s\n", plural(p.Epochs, "epoch"), p.Batch, p.Optim, p.LR, p.Schedule, *o.seed, out)

	kind := taskName(task)
	start := time.Now()
	checkpoint := filepath.Join(out, "checkpoint.safetensors")
	hist, err := train.Fit(m, trainSet, testSet, train.Config{
		Task: task, Epochs: p.Epochs, Batch: p.Batch, Optimizer: opt, Schedule: sched, Seed: *o.seed, ClassWeight: p.ClassWeight,
		Progress: log, Bar: !*o.quiet && isTerminal(stdout), TrainMetrics: *o.trainMetrics,
		HistoryCSV: filepath.Join(out, "history.csv"), Checkpoint: checkpoint, Resume: *o.resume,
		Settings: settings, Context: ctx, EvalName: split.evalName(),
	})
	switch {
	case errors.Is(err, train.ErrInterrupted):
		return exitError{code: 130, err: fmt.Errorf("%w\nto continue: %s", err, resumeCommand(args))}
	case errors.Is(err, train.ErrCheckpointMismatch) || errors.Is(err, train.ErrBadCheckpoint):
		return usagef("-resume: %v\n(train into another -out, or pass -overwrite to start this one again)", err)
	case errors.Is(err, train.ErrNotFinite) || errors.Is(err, train.ErrDiverged):
		left := "no model was written"
		if ckpt := checkpointPosition(checkpoint); ckpt != "" {
			left += fmt.Sprintf("; %s keeps the run up to its last good epoch%s (-overwrite starts again with other settings)", out, ckpt)
		}
		return fmt.Errorf("%w\n%s", err, left)
	case err != nil:
		return err
	}
	// The whole run's time, across resumes: Fit carries it in checkpoints.
	seconds := max(hist[len(hist)-1].Elapsed, time.Since(start).Seconds())
	m.Classes = trainSet.ClassNames // Save writes them as the file's "classes"
	meta := map[string]string{model.MetaTask: kind, model.MetaEncoder: strconv.Itoa(p.Encoder)}
	for k, v := range settings {
		if _, ok := meta[k]; !ok {
			meta[k] = v
		}
	}
	if err := m.Save(filepath.Join(out, "model.safetensors"), meta); err != nil {
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
	title := p.Name + " on " + *o.dataName
	losses := []figures.Series{{Name: "train", Values: series(func(e train.Epoch) float64 { return e.TrainLoss })},
		{Name: split.evalName(), Values: series(func(e train.Epoch) float64 { return e.EvalLoss })}}
	var accuracies []figures.Series
	if task != train.Reconstruct {
		accuracies = []figures.Series{{Name: "train", Values: series(func(e train.Epoch) float64 { return e.TrainAcc })},
			{Name: split.evalName(), Values: series(func(e train.Epoch) float64 { return e.EvalAcc })}}
	}
	if err := figures.Curves(filepath.Join(out, "curves.png"), title, losses, accuracies); err != nil {
		return err
	}
	last := hist[len(hist)-1]
	metrics := map[string]any{
		"model": m.Spec, "preset": p.Name, "task": kind, "data": *o.dataName, "backend": b.Name(), "device": b.Device(),
		"epochs": p.Epochs, "batch": p.Batch, "optimizer": p.Optim, "lr": p.LR, "schedule": p.Schedule, "seed": *o.seed,
		"val": split.val, "test_only": split.testOnly, "eval_set": split.evalName(),
		"train_samples": trainSet.N, "eval_samples": testSet.N, "seconds": seconds, "train_loss": last.TrainLoss,
	}
	if task == train.Reconstruct {
		if err := finishAutoencoder(m, p, testSet, split.evalName(), metrics, out, title, seconds, stdout, log); err != nil {
			return err
		}
		succeeded = true
		return interruptedLate(ctx)
	}

	testLoss, report, j, err := evaluateClassifier(m, testSet, task)
	if err != nil {
		return err
	}
	if j != nil {
		metrics["class_weight"] = p.ClassWeight
		metrics["eval_bce"] = j.BCE
		if split.evalName() == "test" {
			metrics["test_bce"] = j.BCE
		}
		if err := reconstructionGrid(m, testSet, filepath.Join(out, "reconstructions.png")); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\n%s binary cross-entropy of the reconstruction %.4f", split.evalName(), j.BCE)
	}
	if err := figures.Confusion(filepath.Join(out, "confusion.png"), title+" ("+split.evalName()+" set)", report.Confusion, report.Classes); err != nil {
		return err
	}
	for k, v := range map[string]any{
		"train_accuracy": nanToNil(last.TrainAcc), "eval_loss": testLoss,
		"accuracy": report.Accuracy, "macro_precision": report.MacroPrecision, "macro_recall": report.MacroRecall,
		"macro_f1": report.MacroF1, "classes": report.Classes, "precision": report.Precision, "recall": report.Recall,
		"f1": report.F1, "support": report.Support, "confusion": report.Confusion,
	} {
		metrics[k] = v
	}
	if split.evalName() == "test" {
		metrics["test_loss"] = testLoss // only a test split is called test
	}
	if err := writeMetricsJSON(filepath.Join(out, "metrics.json"), metrics); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s on %s, %s in %.1fs; %s loss %.4f\n\n", m.Spec, *o.dataName, plural(p.Epochs, "epoch"), seconds, split.evalName(), testLoss)
	if err := report.WriteTable(stdout); err != nil {
		return err
	}
	figs := "confusion.png"
	if j != nil {
		figs = "confusion.png,reconstructions.png"
	}
	fmt.Fprintf(log, "\nwrote %s/{model.safetensors,history.csv,curves.png,%s,metrics.json}\n", out, figs)
	succeeded = true
	return interruptedLate(ctx)
}

// interruptedLate reports a Ctrl-C that came after the last step, while
// the outputs were written: they were finished first.
func interruptedLate(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return exitError{code: 130, err: errors.New("interrupted as training finished: every output was written first")}
}

// interruptible returns a context that the first SIGINT or SIGTERM
// cancels; the signal handler then steps aside, so that a second one
// quits at once (every file write is atomic). stop releases the handler.
func interruptible() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			signal.Stop(sigs)
			cancel()
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

func taskName(t train.Task) string {
	switch t {
	case train.Reconstruct:
		return "reconstruct"
	case train.Joint:
		return "joint"
	}
	return "classify"
}

// evaluateClassifier evaluates a classifier, or a joint autoencoder's
// classifier (j then holds both heads' results): its mean cross-entropy
// and metrics report.
func evaluateClassifier(m *model.Model, test *data.Dataset, task train.Task) (loss float64, r *metrics.Report, j *train.JointResult, err error) {
	if task != train.Joint {
		loss, r, _, err = train.Evaluate(m, test)
		return loss, r, nil, err
	}
	if j, err = train.EvaluateJoint(m, test); err != nil {
		return 0, nil, nil, err
	}
	return j.CrossEntropy, j.Report, j, nil
}

// runSettings are what makes a run this run: -resume refuses a checkpoint
// made with other values, naming each, and the model file records them
// for eval. The data's checksum catches other files behind the same
// -data name; the autoencoder's, another file at the same -preprocess path.
func runSettings(split dataSplit, p model.Preset, task string, limit int, preprocess, features string, sets ...*data.Dataset) (map[string]string, error) {
	settings := map[string]string{
		"data": split.name, "test_only": strconv.FormatBool(split.testOnly), "val": strconv.FormatFloat(split.val, 'g', -1, 64),
		"seed": strconv.FormatUint(split.seed, 10), "limit": strconv.Itoa(limit), "task": task,
		"encoder": strconv.Itoa(p.Encoder), "epochs": strconv.Itoa(p.Epochs), "batch": strconv.Itoa(p.Batch),
		"optimizer": p.Optim, "lr": strconv.FormatFloat(p.LR, 'g', -1, 64), "schedule": p.Schedule,
		"data_crc32c": dataChecksum(sets...),
	}
	if preprocess != "" {
		sum, err := fileSHA256(preprocess)
		if err != nil {
			return nil, usagef("-preprocess: %v", err)
		}
		settings["preprocess"], settings["preprocess_sha256"], settings["features"] = preprocess, sum, features
	}
	return settings, nil
}

// resumeCommand is the command line that continues an interrupted run.
func resumeCommand(args []string) string {
	words := []string{"diynn", "train"}
	hasResume := false
	for _, a := range args {
		hasResume = hasResume || a == "-resume" || a == "--resume" || strings.HasPrefix(a, "-resume=")
		if a == "-overwrite" || a == "--overwrite" || strings.HasPrefix(a, "-overwrite=") {
			continue // the run to continue is the one just started
		}
		words = append(words, shellQuote(a))
	}
	if !hasResume {
		words = append(words, "-resume")
	}
	return strings.Join(words, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// finishAutoencoder writes an autoencoder's BCE on the evaluation set
// (named evalName: test or validation; metrics.json has eval_bce, and
// test_bce only for a test split) and its reconstruction grid: two evaluation images of every
// class over their reconstructions.
func finishAutoencoder(m *model.Model, p model.Preset, test *data.Dataset, evalName string, metrics map[string]any, out, title string, seconds float64, stdout, log io.Writer) error {
	bce, err := train.EvaluateReconstruction(m, test)
	if err != nil {
		return err
	}
	metrics["eval_bce"], metrics["eval_loss"] = bce, bce
	if evalName == "test" {
		metrics["test_bce"], metrics["test_loss"] = bce, bce
	}
	if err := reconstructionGrid(m, test, filepath.Join(out, "reconstructions.png")); err != nil {
		return err
	}
	if err := writeMetricsJSON(filepath.Join(out, "metrics.json"), metrics); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s (%s), %s in %.1fs; %s binary cross-entropy %.4f\n", title, m.Spec, plural(p.Epochs, "epoch"), seconds, evalName, bce)
	fmt.Fprintf(log, "wrote %s/{model.safetensors,history.csv,curves.png,reconstructions.png,metrics.json}\n", out)
	return nil
}

// reconstructionGrid draws two images of every class of test over their
// reconstructions: the first test.Features outputs of m (a joint
// autoencoder's class scores follow them). Samples that are not square
// images get no figure.
func reconstructionGrid(m *model.Model, test *data.Dataset, path string) error {
	side := int(math.Sqrt(float64(test.Features)))
	if side*side != test.Features {
		return nil
	}
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
	pred, err := train.Predict(m, sample)
	if err != nil {
		return err
	}
	origs, recs, labels := make([][]float32, sample.N), make([][]float32, sample.N), make([]string, sample.N)
	for i := range origs {
		origs[i] = sample.Row(i)
		recs[i] = pred.Row(i)[:test.Features]
		labels[i] = test.ClassNames[int(sample.Y[i])]
	}
	return figures.ReconstructionGrid(path, origs, recs, labels, side, side, 3)
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

func minMax(v []float32) (lo, hi float32) {
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}
