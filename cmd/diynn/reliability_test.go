package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/internal/rundir"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/safetensors"
)

// These tests reproduce the problems a careless or hostile user found
// (issue 12) through the command's entry function; docs/RELIABILITY.md
// maps each promise to its test.

// snapshot hashes every file under dir, to show that a refused command
// changed nothing.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	files := map[string][32]byte{}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(path)
			files[path] = sha256.Sum256(b)
		}
		return nil
	})
	return files
}

func sameSnapshot(a, b map[string][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// mustTrain runs diynn train and fails the test unless it succeeds.
func mustTrain(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(append([]string{"train", "-quiet"}, args...)...)
	if code != 0 {
		t.Fatalf("diynn train %v: exit %d\n%s\n%s", args, code, stdout, stderr)
	}
	return stdout
}

var irisArgs = []string{"-data", "iris", "-model", "iris-mlp", "-epochs", "3"}

func TestValNaNIsAUsageError(t *testing.T) {
	for _, data := range []string{"iris", "dots"} {
		out := filepath.Join(t.TempDir(), "run")
		code, _, stderr := runCLI("train", "-data", data, "-model", map[string]string{"iris": "iris-mlp", "dots": "linear(2,4)"}[data],
			"-val", "NaN", "-out", out)
		if code != 2 || !strings.Contains(stderr, "-val NaN") {
			t.Errorf("-data %s -val NaN: exit %d, %q", data, code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("-data %s -val NaN created %s", data, out)
		}
	}
}

// idxFile writes an IDX file of zeros, then mangled, then gzipped.
func idxFile(t *testing.T, path string, dims []int, gz bool, mangle func([]byte) []byte) {
	t.Helper()
	raw := idxBytes(dims, func(int) byte { return 0 })
	if mangle != nil {
		raw = mangle(raw)
	}
	if gz {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(raw)
		w.Close()
		raw = z.Bytes()
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// idxBytes is an IDX file of unsigned bytes: value(i) is the i-th.
func idxBytes(dims []int, value func(i int) byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, byte(len(dims))})
	n := 1
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
		n *= d
	}
	for i := range n {
		b.WriteByte(value(i))
	}
	return b.Bytes()
}

// With -test-only every data error is reported as itself, not as "has no
// test split".
func TestTestOnlyReportsTheRealDataError(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"missing directory", func(t *testing.T, dir string) { os.RemoveAll(dir) }, "is not a directory"},
		{"no files", func(t *testing.T, dir string) {}, "t10k-images-idx3-ubyte.gz not found"},
		{"truncated images", func(t *testing.T, dir string) {
			idxFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), []int{10, 28, 28}, true, func(b []byte) []byte { return b[:100] })
			idxFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), []int{10}, true, nil)
		}, "truncated"},
		{"not gzip, not IDX", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), []byte("<html>not found</html>"), 0o644)
			idxFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), []int{10}, true, nil)
		}, "not an IDX file"},
		{"label count", func(t *testing.T, dir string) {
			idxFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), []int{10, 28, 28}, true, nil)
			idxFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), []int{9}, true, nil)
		}, "test images: 10 of them (shape [10 28 28]), but"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "kmnist")
			os.MkdirAll(dir, 0o755)
			c.setup(t, dir)
			code, _, stderr := runCLI("train", "-data", "kmnist", "-model", "kmnist-relu", "-test-only", "-no-download",
				"-data-dir", dir, "-epochs", "1", "-out", filepath.Join(t.TempDir(), "run"))
			if code != 2 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "has no test split") {
				t.Errorf("exit %d, stderr %q; want %q", code, stderr, c.want)
			}
		})
	}
}

// eval measures a model on the hold-out of its own run: the seed and the
// fraction are in the model file, so eval sees the samples training
// evaluated on (the same count and loss), none it trained on.
func TestEvalUsesTheRecordedSplit(t *testing.T) {
	cases := []struct {
		args      []string
		seed, val string
	}{
		{[]string{"-data", "iris", "-model", "iris-mlp", "-epochs", "5", "-seed", "7"}, "7", "0.2"},
		{[]string{"-data", "dots", "-model", "linear(2,8) tanh linear(8,4)", "-epochs", "2", "-seed", "5", "-val", "0.3"}, "5", "0.3"},
	}
	for _, c := range cases {
		out := filepath.Join(t.TempDir(), "run")
		mustTrain(t, append(c.args, "-out", out)...)
		var metrics struct {
			TestLoss    float64 `json:"eval_loss"`
			EvalSamples int     `json:"eval_samples"`
		}
		js, _ := os.ReadFile(filepath.Join(out, "metrics.json"))
		if err := json.Unmarshal(js, &metrics); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runCLI("eval", "-model", filepath.Join(out, "model.safetensors"))
		if code != 0 {
			t.Fatalf("eval: exit %d\n%s", code, stderr)
		}
		m := regexp.MustCompile(`\(held-out ([0-9.]+) of the training set, seed (\d+), (\d+) samples\): loss ([0-9.]+)`).FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("eval %v does not name its hold-out:\n%s", c.args, stdout)
		}
		if m[1] != c.val || m[2] != c.seed {
			t.Errorf("eval %v: hold-out %s with seed %s, want %s with seed %s", c.args, m[1], m[2], c.val, c.seed)
		}
		if want := strconv.FormatFloat(metrics.TestLoss, 'f', 4, 64); m[4] != want || m[3] != strconv.Itoa(metrics.EvalSamples) {
			t.Errorf("eval %v: %s samples, loss %s; training measured %d samples, loss %s", c.args, m[3], m[4], metrics.EvalSamples, want)
		}
	}
}

// A directory that holds a run is not trained into again without -resume
// or -overwrite; a forgotten -resume loses nothing.
func TestRunDirectoryIsOwned(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	mustTrain(t, append(irisArgs, "-out", out)...)
	before := snapshot(t, out)
	refusals := []struct {
		args []string
		want string
	}{
		{append(irisArgs, "-out", out), "already holds a finished run"},
		{append(irisArgs, "-out", out, "-resume"), "finished run (model.safetensors, no checkpoint): nothing to resume"},
		{append(irisArgs, "-out", out, "-resume", "-overwrite"), "pass one of them"},
	}
	for _, r := range refusals {
		code, _, stderr := runCLI(append([]string{"train"}, r.args...)...)
		if code != 2 || !strings.Contains(stderr, r.want) {
			t.Errorf("train %v: exit %d, %q; want 2 and %q", r.args, code, stderr, r.want)
		}
		if !sameSnapshot(before, snapshot(t, out)) {
			t.Fatalf("train %v changed the earlier run's files", r.args)
		}
	}
	// Leftovers of interrupted writes are removed by the next run.
	tmp := filepath.Join(out, ".checkpoint.safetensors.tmp-42")
	os.WriteFile(tmp, nil, 0o644)
	code, stdout, stderr := runCLI(append([]string{"train"}, append(irisArgs, "-out", out, "-overwrite", "-seed", "3")...)...)
	if code != 0 || !strings.Contains(stderr, "-overwrite: removed the earlier run's") || !strings.Contains(stderr, "1 temporary file") {
		t.Fatalf("-overwrite: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(tmp); err == nil {
		t.Error("the leftover temporary file is still there")
	}
	if _, err := os.Stat(filepath.Join(out, rundir.LockName)); err == nil {
		t.Error("the finished run left its lock file")
	}
}

// Two runs cannot write into one directory at once.
func TestBusyRunDirectoryIsRefused(t *testing.T) {
	out := t.TempDir()
	lock, err := rundir.Acquire(out)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	code, _, stderr := runCLI(append([]string{"train"}, append(irisArgs, "-out", out)...)...)
	if code != 2 || !strings.Contains(stderr, "in use by the run of pid") {
		t.Errorf("exit %d, %q", code, stderr)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Errorf("the refused run wrote into the busy directory: %v", entries)
	}
}

// -preprocess reads the autoencoder that -out would overwrite.
func TestPreprocessModelIsNotOverwritten(t *testing.T) {
	ae := filepath.Join(t.TempDir(), "ae")
	images := tinyImages(t)
	mustTrain(t, append(tinyAE(images), "-epochs", "2", "-out", ae)...)
	before := snapshot(t, ae)
	code, _, stderr := runCLI("train", "-data", "fashion-mnist", "-data-dir", images, "-model", "linear(4,10)",
		"-preprocess", filepath.Join(ae, "model.safetensors"), "-out", ae, "-overwrite")
	if code != 2 || !strings.Contains(stderr, "which this run would overwrite") {
		t.Errorf("exit %d, %q", code, stderr)
	}
	if !sameSnapshot(before, snapshot(t, ae)) {
		t.Error("the autoencoder's directory changed")
	}
}

// A finite blow-up is divergence: exit 1, no model written.
func TestDivergenceWritesNoModel(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := runCLI("train", "-data", "iris", "-model", "iris-mlp", "-lr", "1e30", "-optim", "sgd", "-out", out)
	if code != 1 || !(strings.Contains(stderr, "diverged") || strings.Contains(stderr, "not finite")) || !strings.Contains(stderr, "epoch 1, step") {
		t.Errorf("exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		entries, _ := os.ReadDir(out)
		t.Errorf("a run that diverged in its first epoch left %s: %v", out, entries)
	}
}

// eval refuses a model whose weights are not finite.
func TestEvalRefusesNonFiniteWeights(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	mustTrain(t, "-data", "dots", "-model", "linear(2,4)", "-epochs", "1", "-out", out)
	path := filepath.Join(out, "model.safetensors")
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		f, err := safetensors.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f.Tensors[0].Data[1] = bad
		poisoned := filepath.Join(out, "poisoned.safetensors")
		if err := safetensors.WriteFile(poisoned, f); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runCLI("eval", "-model", poisoned)
		if code != 2 || !strings.Contains(stderr, f.Tensors[0].Name+"[1] is") || strings.Contains(stdout, "accuracy") {
			t.Errorf("eval of a model with %v: exit %d, %q %q", bad, code, stderr, stdout)
		}
	}
}

func TestHelpGoesToStdout(t *testing.T) {
	for _, cmd := range []string{"train", "eval", "embed", "tsne", "reproduce"} {
		code, stdout, stderr := runCLI(cmd, "-h")
		if code != 0 || !strings.Contains(stdout, "-") || stderr != "" {
			t.Errorf("%s -h: exit %d, stdout %d bytes, stderr %q", cmd, code, len(stdout), stderr)
		}
	}
}

// The whole model's memory is computed from the spec and refused before
// anything is allocated, or even the data read.
func TestMemoryIsBoundedBeforeUse(t *testing.T) {
	huge := strings.TrimSpace(strings.Repeat("linear(16384,16384) ", 8))
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-model", huge, "-max-memory", "8GB"}, "needs 34.4 GB for its weights, gradients and optimizer state alone"},
		{[]string{"-model", strings.TrimSpace(strings.Repeat("linear(16384,16384) ", 64))}, "default -max-memory"},
		{[]string{"-model", "linear(2,4)", "-max-memory", "10kB"}, "and its data 60.0 kB"},
		{[]string{"-model", "linear(2,64) relu linear(64,4)", "-batch", "4000", "-max-memory", "2MB"}, "of activations for batch 4000"},
	}
	for _, c := range cases {
		out := filepath.Join(t.TempDir(), "run")
		args := append([]string{"train", "-data", "dots", "-out", out}, c.args...)
		start := time.Now()
		code, _, stderr := runCLI(args...)
		if code != 2 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "more than") {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, stderr, c.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%v: refused after %v: was it allocated first?", c.args, d)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v created %s", c.args, out)
		}
	}
}

// A 1 KB model file whose spec claims 12 layers of 16384² weights is
// refused from its tensors, before the model is built.
func TestEvalOfACraftedSpecAllocatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crafted.safetensors")
	spec := strings.TrimSpace(strings.Repeat("linear(16384,16384) ", 12))
	f := &safetensors.File{Tensors: []safetensors.Tensor{{Name: "0.weight", Shape: []int{2, 2}, Data: make([]float32, 4)}},
		Metadata: map[string]string{"spec": spec, "format": "diynn/1", "data": "dots"}}
	if err := safetensors.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("eval", "-model", path)
	if code != 2 || !strings.Contains(stderr, "0.weight") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

// reproduce writes only into a new or empty directory, or over an earlier
// reproduction with -overwrite: never over a user's files or a training run.
func TestReproduceOwnsItsDirectory(t *testing.T) {
	mine := t.TempDir()
	os.WriteFile(filepath.Join(mine, "README.md"), []byte("my notes\n"), 0o644)
	run := filepath.Join(t.TempDir(), "run")
	mustTrain(t, append(irisArgs, "-out", run)...)
	expLike := t.TempDir() // a user's run, named as reproduce names its own
	mustTrain(t, append(irisArgs, "-out", filepath.Join(expLike, "exp2-iris-mlp"))...)
	for _, c := range []struct {
		dir  string
		args []string
		want string
	}{
		{mine, nil, "not a reproduction's (README.md)"},
		{mine, []string{"-overwrite"}, "not a reproduction's (README.md)"},
		{run, []string{"-overwrite"}, "not a reproduction's"},
		{expLike, []string{"-overwrite"}, "not a reproduction's (exp2-iris-mlp)"},
		{expLike, []string{"-data-dir", ""}, "-data-dir is empty"},
		{"", nil, "-out is empty"},
	} {
		before := snapshot(t, c.dir)
		code, _, stderr := runCLI(append([]string{"reproduce", "-quick", "-out", c.dir}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("reproduce -out %q %v: exit %d, %q; want 2 and %q", c.dir, c.args, code, stderr, c.want)
		}
		if c.dir != "" && !sameSnapshot(before, snapshot(t, c.dir)) {
			t.Errorf("reproduce -out %s changed it", c.dir)
		}
	}
}

// A classifier trained on an autoencoder's codes is evaluated through the
// same autoencoder, which must not have changed.
func TestEvalOfAPreprocessedModel(t *testing.T) {
	dir := t.TempDir()
	ae := filepath.Join(dir, "ae")
	images := tinyImages(t)
	mustTrain(t, append(tinyAE(images), "-epochs", "3", "-out", ae)...)
	clf := filepath.Join(dir, "clf")
	aeModel := filepath.Join(ae, "model.safetensors")
	mustTrain(t, "-data", "fashion-mnist", "-data-dir", images, "-no-download", "-model", "linear(4,10)", "-epochs", "5",
		"-preprocess", aeModel, "-features", "latent", "-out", clf)
	var metrics struct {
		TestLoss float64 `json:"eval_loss"`
	}
	js, _ := os.ReadFile(filepath.Join(clf, "metrics.json"))
	json.Unmarshal(js, &metrics)
	code, stdout, stderr := runCLI("eval", "-model", filepath.Join(clf, "model.safetensors"), "-data-dir", images, "-no-download")
	if want := "loss " + strconv.FormatFloat(metrics.TestLoss, 'f', 4, 64); code != 0 || !strings.Contains(stdout, want) || !strings.Contains(stdout, "as latent of") {
		t.Fatalf("eval: exit %d, %q %q; want %q", code, stdout, stderr, want)
	}
	// Another autoencoder at the same path is refused.
	mustTrain(t, append(tinyAE(images), "-epochs", "3", "-seed", "9", "-out", ae, "-overwrite")...)
	code, _, stderr = runCLI("eval", "-model", filepath.Join(clf, "model.safetensors"), "-data-dir", images, "-no-download")
	if code != 2 || !strings.Contains(stderr, "has changed since") {
		t.Errorf("eval after the autoencoder changed: exit %d, %q", code, stderr)
	}
}

// The settings a checkpoint records tell other data and another
// autoencoder file apart.
func TestRunSettingsFingerprintTheInputs(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("one autoencoder"), 0o644)
	os.WriteFile(b, []byte("another"), 0o644)
	d1 := &data.Dataset{X: []float32{1, 2}, Y: []float32{0}, N: 1, Features: 2}
	d2 := &data.Dataset{X: []float32{1, 3}, Y: []float32{0}, N: 1, Features: 2}
	s1, _ := runSettings(dataSplit{name: "x"}, model.Preset{}, "classify", 0, a, "latent", d1)
	s2, _ := runSettings(dataSplit{name: "x"}, model.Preset{}, "classify", 0, b, "latent", d2)
	s3, _ := runSettings(dataSplit{name: "x"}, model.Preset{}, "classify", 0, a, "latent", d1)
	if s1["data_crc32c"] == s2["data_crc32c"] || s1["preprocess_sha256"] == s2["preprocess_sha256"] {
		t.Errorf("other inputs, same fingerprints: %v %v", s1, s2)
	}
	if s1["data_crc32c"] != s3["data_crc32c"] || s1["preprocess_sha256"] != s3["preprocess_sha256"] {
		t.Errorf("the same inputs, other fingerprints: %v %v", s1, s3)
	}
}

func TestEvalRefusesACheckpoint(t *testing.T) {
	f := &safetensors.File{Tensors: []safetensors.Tensor{{Name: "0.weight", Shape: []int{4, 2}, Data: make([]float32, 8)},
		{Name: "0.bias", Shape: []int{4}, Data: make([]float32, 4)}},
		Metadata: map[string]string{"spec": "linear(2,4)", "checkpoint.epoch": "3"}}
	path := filepath.Join(t.TempDir(), "checkpoint.safetensors")
	safetensors.WriteFile(path, f)
	code, _, stderr := runCLI("eval", "-model", path, "-data", "dots")
	if code != 2 || !strings.Contains(stderr, "is a checkpoint of an unfinished run") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

func TestLockInTheWayIsAUsageError(t *testing.T) {
	out := t.TempDir()
	os.Mkdir(filepath.Join(out, ".lock"), 0o755)
	code, _, stderr := runCLI(append([]string{"train"}, append(irisArgs, "-out", out)...)...)
	if code != 2 || !strings.Contains(stderr, ".lock") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

// An IDX file whose header claims more than -max-memory is refused before
// its data is allocated: a 30 KB gzip that would take 157 MB.
func TestDatasetBombIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fashion-mnist")
	os.MkdirAll(dir, 0o755)
	idxFile(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), []int{40000, 28, 28}, true, nil)
	idxFile(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), []int{40000}, true, nil)
	idxFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), []int{10, 28, 28}, true, nil)
	idxFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), []int{10}, true, nil)
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := runCLI("train", "-data", "fashion-mnist", "-data-dir", dir, "-no-download", "-max-memory", "50MB", "-out", out)
	if code != 2 || !strings.Contains(stderr, "more than the memory limit of 50.0 MB") || !strings.Contains(stderr, "raise -max-memory") {
		t.Errorf("exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("the refused run created %s", out)
	}
}
