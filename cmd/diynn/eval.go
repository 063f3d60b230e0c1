package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/internal/bytesize"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/safetensors"
	"github.com/diynn/diynn/tensor"
	"github.com/diynn/diynn/train"
)

// recordedSplit reads from a model file's metadata how its run split the
// data, so that eval and embed use the same hold-out. A model of another
// dataset than name, or one from before the split was recorded, gets the
// defaults, with a note when that can matter.
func recordedSplit(meta map[string]string, name, path string, note io.Writer) (dataSplit, error) {
	s := dataSplit{name: name, seed: 1}
	if meta["data"] != name {
		return s, nil // another dataset: its own official split (iris: the default hold-out)
	}
	var err error
	if v, ok := meta["test_only"]; ok {
		if s.testOnly, err = strconv.ParseBool(v); err != nil {
			return s, usagef("-model %s: metadata test_only = %q is not a boolean", path, v)
		}
	}
	if v, ok := meta["val"]; ok {
		if s.val, err = strconv.ParseFloat(v, 64); err != nil || !(s.val >= 0 && s.val < 1) {
			return s, usagef("-model %s: metadata val = %q is not a fraction in [0, 1)", path, v)
		}
	}
	v, ok := meta["seed"]
	if ok {
		if s.seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return s, usagef("-model %s: metadata seed = %q is not a seed", path, v)
		}
	}
	heldOut := s.val > 0 || s.testOnly || name == "iris" || name == "dots"
	if !ok && heldOut {
		fmt.Fprintf(note, "note: %s does not record the seed of its split (written by an older diynn); assuming seed 1\n", path)
	}
	return s, nil
}

// loadEvalData loads the split of a dataset that a saved model is measured
// on. For an image dataset evaluated on its official test split only the
// test files are read (kmnist's test file works alone).
func loadEvalData(s dataSplit, dir string, noDownload bool, split string, progress io.Writer) (*data.Dataset, string, error) {
	if s.name == "" {
		return nil, "", usagef("the model does not record its dataset: pass -data")
	}
	if imageData(s.name) && !s.testOnly && s.val == 0 && split == "test" {
		_, te, err := data.Load(s.name, data.Options{Dir: dir, NoDownload: noDownload, Progress: progress, TestOnly: true, MaxBytes: s.maxBytes})
		if err != nil {
			return nil, "", usagef("-data %s: %v", s.name, err)
		}
		return te, "test split", nil
	}
	tr, te, used, err := loadData(s, dir, noDownload, progress)
	if err != nil {
		return nil, "", err
	}
	if split == "train" {
		return tr, "training split", nil
	}
	if used.val > 0 {
		what := "training set"
		if used.testOnly {
			what = "test file"
		}
		return te, fmt.Sprintf("held-out %g of the %s, seed %d", used.val, what, used.seed), nil
	}
	return te, "test split", nil
}

// savedModelFlags are the flags of commands that apply a saved model to a
// split of a dataset (eval, embed).
type savedModelFlags struct {
	model, data, dataDir, split, backend, mem *string
	noDownload                                *bool
	// checkModel, if set, refuses a model the command cannot use before
	// any data is loaded for it.
	checkModel func(meta map[string]string) error
	fs         *flag.FlagSet
}

// evalBatch is how many samples eval and embed run through a model at once.
const evalBatch = 1000

func addSavedModelFlags(fs *flag.FlagSet, modelHelp string) *savedModelFlags {
	return &savedModelFlags{fs: fs,
		model:      fs.String("model", "", modelHelp),
		data:       fs.String("data", "", "dataset (default: the one the model was trained on, with the same hold-out)"),
		dataDir:    fs.String("data-dir", "", "directory with the dataset files"),
		noDownload: fs.Bool("no-download", false, "fail instead of downloading missing dataset files"),
		split:      fs.String("split", "test", "test (the samples held out from the model's training: all of them, even if the run used -limit) or train"),
		backend:    fs.String("backend", "auto", "auto, cpu, opencl or cuda"),
		mem:        fs.String("max-memory", "auto", "refuse a model file or a model that needs more: bytes such as 4GB or 512MiB; auto sizes it to the device"),
	}
}

// savedModel is a loaded model and the data it is applied to.
type savedModel struct {
	backend backend.Backend // the caller closes it
	model   *model.Model
	meta    map[string]string
	data    *data.Dataset
	what    string // which samples, e.g. "test split"
}

// open checks the flags, opens the backend, loads the model and the split.
func (f *savedModelFlags) open(stderr io.Writer) (*savedModel, error) {
	if *f.model == "" {
		return nil, usagef("-model FILE is required")
	}
	if err := refuseEmpty(f.fs, "data-dir"); err != nil {
		return nil, err
	}
	if *f.split != "test" && *f.split != "train" {
		return nil, usagef("-split %q: want test or train", *f.split)
	}
	if _, err := parseMaxMemory(*f.mem); err != nil {
		return nil, err
	}
	b, err := openBackend(*f.backend, stderr)
	if err != nil {
		return nil, err
	}
	s, err := f.load(b, stderr)
	if err != nil {
		b.Close()
		return nil, err
	}
	return s, nil
}

func (f *savedModelFlags) load(b backend.Backend, stderr io.Writer) (*savedModel, error) {
	limit, err := parseMaxMemory(*f.mem)
	if err != nil {
		return nil, err
	}
	m, file, err := loadModel(b, "-model", *f.model, limit, evalBatch)
	if err != nil {
		return nil, err
	}
	if _, ok := file.Metadata["checkpoint.epoch"]; ok {
		return nil, usagef("-model %s is a checkpoint of an unfinished run, not a model: finish the run with diynn train -resume", *f.model)
	}
	if f.checkModel != nil {
		if err := f.checkModel(file.Metadata); err != nil {
			return nil, err
		}
	}
	if *f.data == "" {
		*f.data = file.Metadata["data"]
		if name := *f.data; name != "" && name != "dots" && name != "iris" && !imageData(name) {
			return nil, usagef("-model %s records dataset %q, which this diynn does not know: pass -data", *f.model, name)
		}
	}
	split, err := recordedSplit(file.Metadata, *f.data, *f.model, stderr)
	if err != nil {
		return nil, err
	}
	split.maxBytes = memoryBudget(limit, b)
	d, what, err := loadEvalData(split, *f.dataDir, *f.noDownload, *f.split, stderr)
	if err != nil {
		return nil, err
	}
	// A classifier trained on an autoencoder's outputs sees the data
	// through the same autoencoder.
	if ae := file.Metadata["preprocess"]; ae != "" && file.Metadata["data"] == *f.data {
		features := file.Metadata["features"]
		if err := checkPreprocessed(ae, file.Metadata["preprocess_sha256"], *f.model); err != nil {
			return nil, err
		}
		if err := preprocess(b, ae, features, limit, d); err != nil {
			return nil, err
		}
		what += fmt.Sprintf(", as %s of %s", features, ae)
	}
	if d.Features != m.Inputs {
		return nil, usagef("%s has %d features; the model %s takes %d", *f.data, d.Features, m.Spec, m.Inputs)
	}
	return &savedModel{backend: b, model: m, meta: file.Metadata, data: d, what: what}, nil
}

func evalCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("diynn eval", flag.ContinueOnError)
	f := addSavedModelFlags(fs, "a model.safetensors written by diynn train; with -weights, the spec of the network instead")
	weights := fs.String("weights", "", "a safetensors file of the weights of the network -model SPEC describes, such as a PyTorch nn.Sequential's state_dict (\"0.weight\", \"1.running_mean\", …); needs -data")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	f.checkModel = func(meta map[string]string) error {
		switch meta[model.MetaTask] {
		case "reconstruct":
			return usagef("-model %s is an autoencoder: eval measures classifiers (its test binary cross-entropy is in its metrics.json)", *f.model)
		case "joint":
			return usagef("-model %s is a joint autoencoder: eval measures classifiers (its test accuracy and binary cross-entropy are in its metrics.json)", *f.model)
		}
		return nil
	}
	var s *savedModel
	var err error
	if *weights != "" {
		s, err = f.openWeights(*weights, stderr)
	} else if _, perr := model.Parse(*f.model); *f.model != "" && perr == nil && !isFile(*f.model) {
		// A PyTorch user's first try: a spec, without its weights.
		return usagef("-model %q is a spec, not a model file: give the network's weights with -weights FILE (a PyTorch state_dict saved as safetensors), or a model.safetensors that diynn train wrote", *f.model)
	} else {
		s, err = f.open(stderr)
	}
	if err != nil {
		return err
	}
	defer s.backend.Close()
	m, d := s.model, s.data
	if d.Classes() != m.Outputs {
		return usagef("%s has %d classes; the model %s has %d outputs", *f.data, d.Classes(), m.Spec, m.Outputs)
	}
	loss, report, _, err := train.Evaluate(m, d)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s on %s (%s, %d samples): loss %.4f\n\n", m.Spec, *f.data, s.what, d.N, loss)
	return report.WriteTable(stdout)
}

// openWeights is open for -model SPEC -weights FILE: the network the spec
// describes, for the samples of -data, with its parameters and buffers
// from FILE (model.Plan.BuildWeights), on the official test split or, with
// -split train, the training split.
func (f *savedModelFlags) openWeights(weights string, stderr io.Writer) (*savedModel, error) {
	spec := *f.model
	switch {
	case spec == "":
		return nil, usagef("-weights needs -model SPEC, the network the weights are for, such as \"conv(1,32,3,pad=1) relu maxpool(2) flatten linear(6272,10)\"")
	case strings.HasSuffix(spec, ".safetensors") || isFile(spec):
		return nil, usagef("-weights goes with -model SPEC, the network's description, not with the model file %s, which holds its own weights: drop -weights", spec)
	case *f.data == "":
		return nil, usagef("-weights %s: pass -data: a file of weights does not record its dataset", weights)
	}
	if err := refuseEmpty(f.fs, "data-dir"); err != nil {
		return nil, err
	}
	if *f.split != "test" && *f.split != "train" {
		return nil, usagef("-split %q: want test or train", *f.split)
	}
	if _, err := model.Parse(spec); err != nil {
		return nil, usagef("-model: %v", err)
	}
	limit, err := parseMaxMemory(*f.mem)
	if err != nil {
		return nil, err
	}
	b, err := openBackend(*f.backend, stderr)
	if err != nil {
		return nil, err
	}
	s, err := f.loadWeights(b, spec, weights, limit, stderr)
	if err != nil {
		b.Close()
		return nil, err
	}
	return s, nil
}

func (f *savedModelFlags) loadWeights(b backend.Backend, spec, weights string, limit int64, stderr io.Writer) (*savedModel, error) {
	limit, source := memoryBudgetSource(limit, b)
	split := dataSplit{name: *f.data, seed: 1, maxBytes: limit}
	d, what, err := loadEvalData(split, *f.dataDir, *f.noDownload, *f.split, stderr)
	if err != nil {
		return nil, err
	}
	// The data gives the input shape: a spec that starts with a
	// convolution does not imply it.
	plan, err := model.NewPlanFor(spec, d.SampleShape())
	if err != nil {
		return nil, usagef("-model for %s (samples of shape %v): %v", *f.data, tensor.Shape(d.SampleShape()), err)
	}
	file, err := safetensors.ReadFileLimit(weights, min(limit, safetensors.MaxFileBytes))
	if err != nil {
		return nil, usagef("-weights: %v", err)
	}
	fp, err := plan.Estimate(model.Usage{Batch: evalBatch})
	if err != nil {
		return nil, usagef("-model %s: %v", spec, err)
	}
	var fileBytes int64
	for _, t := range file.Tensors {
		fileBytes += 4 * int64(len(t.Data))
	}
	if total := fp.Total() + fileBytes; total > limit {
		return nil, usagef("-model %s needs %v, and the weights read %s: %s in all, more than the %s allowed (%s)",
			plan.Spec, fp, bytesize.Format(fileBytes), bytesize.Format(total), bytesize.Format(limit), source)
	}
	m, err := plan.BuildWeights(b, file)
	if err != nil {
		return nil, usagef("-weights %s for -model %s: %v", weights, plan.Spec, err)
	}
	return &savedModel{backend: b, model: m, meta: file.Metadata, data: d, what: what}, nil
}

// isFile reports whether path names something on disk: a -model that is a
// file, not a spec.
func isFile(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// checkPreprocessed finds the autoencoder a classifier was trained on the
// outputs of, and checks that it is the same file.
func checkPreprocessed(ae, wantSHA, modelPath string) error {
	sum, err := fileSHA256(ae)
	if err != nil {
		return usagef("-model %s was trained on the outputs of the autoencoder %s, which cannot be read: %v", modelPath, ae, err)
	}
	if wantSHA != "" && sum != wantSHA {
		return usagef("-model %s was trained on the outputs of %s, but that file has changed since (SHA-256 %.12s…, was %.12s…)",
			modelPath, ae, sum, wantSHA)
	}
	return nil
}
