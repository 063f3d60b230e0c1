package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/internal/testenv"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"fly"}, `unknown command "fly"`},
		{[]string{"train", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"train", "-data", "cifar", "-out", dir}, `-data "cifar"`},
		{[]string{"train", "-model", "fmnist-reluu", "-out", dir}, "neither a preset"},
		{[]string{"train", "-model", "linear(784,176) tanhh", "-out", dir}, "column 17"},
		{[]string{"train", "-data", "iris", "-model", "linear(784,10)", "-out", dir}, "4 features"},
		{[]string{"train", "-schedule", "exp:x", "-out", dir}, `"x" is not a positive number`},
		{[]string{"train", "-optim", "lbfgs", "-out", dir}, `-optim "lbfgs"`},
		{[]string{"train", "-backend", "tpu", "-out", dir}, `-backend "tpu": want auto or one of the compiled-in backends`},
		{[]string{"train", "-lr", "-1", "-out", dir}, "-lr -1: want a positive number"},
		{[]string{"eval"}, "-model FILE is required"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("diynn %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("usage errors left files in -out: %v", entries)
	}
}

func TestTrainAndEvalOnDots(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCLI("train", "-data", "dots", "-model", "linear(2,16) tanh linear(16,4)",
		"-epochs", "5", "-batch", "32", "-lr", "0.01", "-out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"model.safetensors", "history.csv", "curves.png", "confusion.png", "metrics.json"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 5 {
		t.Errorf("-out holds %d entries, want the 5 outputs only", len(entries))
	}
	var m struct {
		Accuracy  float64
		Confusion [][]int
	}
	js, _ := os.ReadFile(filepath.Join(out, "metrics.json"))
	if err := json.Unmarshal(js, &m); err != nil || m.Accuracy < 0.8 || len(m.Confusion) != 4 {
		t.Errorf("metrics.json: %v %+v", err, m)
	}
	code, stdout, stderr = runCLI("eval", "-model", filepath.Join(out, "model.safetensors"))
	if code != 0 || !strings.Contains(stdout, "macro avg") || !strings.Contains(stdout, "dots") {
		t.Errorf("eval: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestBackends(t *testing.T) {
	code, stdout, _ := runCLI("backends")
	if code != 0 || !strings.Contains(stdout, "cpu") || !strings.Contains(stdout, "auto") {
		t.Errorf("exit %d: %s", code, stdout)
	}
}

// tinyImages writes a Fashion-MNIST look-alike of 2×2 images (120 to train
// on, 30 to test; pixels in [0, 1] as an autoencoder's binary
// cross-entropy needs) and returns the -data-dir that holds it.
func tinyImages(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fashion-mnist")
	os.MkdirAll(dir, 0o755)
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(name string, dims []int, v func(i int) byte) {
		if err := os.WriteFile(filepath.Join(dir, name), idxBytes(dims, v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, split := range []struct {
		prefix string
		n      int
	}{{"train", 120}, {"t10k", 30}} {
		labels := make([]byte, split.n)
		for i := range labels {
			labels[i] = byte(i % 10)
		}
		// Each class lights its own pixels, so that there is something to learn.
		write(split.prefix+"-images-idx3-ubyte", []int{split.n, 2, 2}, func(i int) byte {
			return byte(int(labels[i/4])*20 + (i%4)*30 + rng.IntN(20))
		})
		write(split.prefix+"-labels-idx1-ubyte", []int{split.n}, func(i int) byte { return labels[i] })
	}
	return dir
}

// tinyAE is the flags of an autoencoder trained on tinyImages.
func tinyAE(dataDir string) []string {
	return []string{"-data", "fashion-mnist", "-data-dir", dataDir, "-no-download",
		"-model", "linear(4,3) leakyrelu(0.1) tied(0) sigmoid", "-task", "reconstruct", "-encoder", "2"}
}

func TestTrainAutoencoder(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ae")
	images := tinyImages(t)
	code, stdout, stderr := runCLI(append(append([]string{"train"}, tinyAE(images)...), "-epochs", "3", "-out", out)...)
	if code != 0 || !strings.Contains(stdout, "binary cross-entropy") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"model.safetensors", "history.csv", "curves.png", "reconstructions.png", "metrics.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	code, stdout, stderr = runCLI("embed", "-model", filepath.Join(out, "model.safetensors"), "-data-dir", images, "-no-download")
	if code != 0 {
		t.Fatalf("embed: exit %d\n%s\n%s", code, stdout, stderr)
	}
	csv, _ := os.ReadFile(filepath.Join(out, "latents-test.csv"))
	if lines := strings.Split(strings.TrimSpace(string(csv)), "\n"); lines[0] != "z0,z1,z2,label" || len(lines) != 31 {
		t.Errorf("latents-test.csv: %d lines, header %q", len(lines), lines[0])
	}
	if st, err := os.Stat(filepath.Join(out, "latents-test.npy")); err != nil || st.Size() != 128+30*3*4 {
		t.Errorf("latents-test.npy: %v %v", st, err)
	}
	for _, dims := range []string{"2", "3"} {
		code, stdout, stderr = runCLI("tsne", "-in", filepath.Join(out, "latents-test.csv"), "-dims", dims, "-perplexity", "5",
			"-iters", "300", "-quiet")
		if code != 0 || !strings.Contains(stdout, "KL divergence") {
			t.Fatalf("tsne -dims %s: exit %d\n%s\n%s", dims, code, stdout, stderr)
		}
		if _, err := os.Stat(filepath.Join(out, "tsne-"+dims+"d.png")); err != nil {
			t.Error(err)
		}
	}
	code, _, stderr = runCLI("tsne", "-in", filepath.Join(out, "latents-test.csv"), "-perplexity", "30")
	if code != 2 || !strings.Contains(stderr, "too large") {
		t.Errorf("perplexity 30 for 30 points: exit %d, %s", code, stderr)
	}
	for _, features := range []string{"recon", "latent"} {
		code, stdout, stderr = runCLI("train", "-data", "fashion-mnist", "-data-dir", images, "-no-download",
			"-model", "linear(4,10) tanh linear(10,10)", "-epochs", "5",
			"-preprocess", filepath.Join(out, "model.safetensors"), "-features", features, "-out", filepath.Join(out, features))
		if code != 0 || !strings.Contains(stdout, "features: "+features) {
			t.Fatalf("-features %s: exit %d\n%s\n%s", features, code, stdout, stderr)
		}
	}
	if features := "latent"; !strings.Contains(stdout, "linear(3,10)") {
		t.Errorf("-features %s did not adapt the first layer to the 3-value codes:\n%s", features, stdout)
	}
	fresh := filepath.Join(t.TempDir(), "new")
	code, _, stderr = runCLI(append(append([]string{"train"}, tinyAE(images)[:len(tinyAE(images))-2]...), "-out", fresh)...)
	if code != 2 || !strings.Contains(stderr, "-encoder") {
		t.Errorf("missing -encoder: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCLI("train", "-data", "iris", "-model", "linear(4,3) leakyrelu(0.1) tied(0) sigmoid",
		"-task", "reconstruct", "-encoder", "2", "-out", fresh)
	if code != 2 || !strings.Contains(stderr, "needs features in [0, 1], but iris's go from 0.1 to 7.9") {
		t.Errorf("an autoencoder of Iris's centimetres: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Errorf("refused runs created %s", fresh)
	}
}

// TestReproduceQuick runs the whole pipeline small, as CI does, and checks
// that every table and figure is produced.
func TestReproduceQuick(t *testing.T) {
	dataDir := testenv.DataDir(t)
	if testing.Short() {
		t.Skip("-short")
	}
	out := filepath.Join(t.TempDir(), "repro")
	// -data-dir goes to the steps that read image files, not to dots or iris.
	code, stdout, stderr := runCLI("reproduce", "-quick", "-out", out, "-data-dir", dataDir)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, lastLines(stdout, 20), stderr)
	}
	readme, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Table 2", "| fmnist-tanh | fashion-mnist | report | 80/20 of the training file | 0.9000 | 0.9200 | 0.7200 | 0.7200 | 0.7100 | 0.8200 |",
		"iterations = full-batch steps", "nearer the report:", "| kmnist-relu | kmnist (test file only) |", "macro average", "Table 3", "Table 4", "| ae2 | 2-D, perplexity 30 | 600 |", "Table 5", "| ae4 |", "| ae2 latent | 30 |", "| ae2 recon | 784 |",
		"### Kuzushiji-MNIST (test file only)", "| raw pixels | 784 | report | 48000 / 12000 | 80/20 of the training file | 0.5500 | 0.6400 | 0.8000 | 0.8000 | 0.8000 | 0.8000 | – |",
		"| ae2 (recon or latent: not said) | 784 (its first layer) | report | 48000 / 12000 | 80/20 of the training file | 0.9500 | 0.9500 | 0.6900 | 0.6800 | 0.7000 | 0.6900 | – |",
		"ours, report's settings (sgd lr 0.1,", "80/20 of the test file", "nearer the report at its settings:", "| ae4 latent | 3 |", "| ae3 latent | 32 |", "Convolutional networks", "| fmnist-cnn |", "| ae2-joint's classifier head | 30 |", "Goal for the joint autoencoder"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	for _, f := range []string{"exp1-dots/curves.png", "exp2-fmnist-relu/confusion.png",
		"exp2-iris-mlp-report-steps/metrics.json", "exp2-kmnist-relu-report-epochs/metrics.json", "exp2-fmnist-tanh-report-steps/metrics.json", "exp3-ae2/reconstructions.png",
		"exp3-ae1-report/metrics.json", "exp4-ae2-tsne-2d.png", "exp4-ae4-tsne-3d.png", "exp4-ae2-train-codes.npy", "exp4-ae4-tsne-3d.json", "exp5-fmnist-ae2-latent/metrics.json",
		"exp5-fmnist-ae2-recon-report/metrics.json", "exp5-kmnist-ae2-latent-report/metrics.json", "exp5-kmnist-ae2-recon/metrics.json", "exp5-kmnist-ae4-latent-report/metrics.json", "exp5-fmnist-ae3-latent/metrics.json",
		"exp6-fmnist-cnn/metrics.json", "exp6-mnist-cnn/metrics.json", "exp6-conv-ae/reconstructions.png", "exp6-conv-ae-latents.npy", "exp6-ae2-joint/reconstructions.png", "exp6-codes-conv-ae/metrics.json", "exp6-codes-ae1/metrics.json"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(string(readme), "| **all** |") {
		t.Errorf("README.md lacks the time table")
	}

	// -resume reuses every completed step and runs again only the one
	// whose record is gone (as an interrupted step has none).
	if err := os.Remove(filepath.Join(out, "logs", "exp5-fmnist-ae2-latent.done")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI("reproduce", "-quick", "-resume", "-out", out, "-data-dir", dataDir)
	if code != 0 {
		t.Fatalf("-resume: exit %d\n%s\n%s", code, lastLines(stdout, 20), stderr)
	}
	ran := regexp.MustCompile(`(?m)^  (\S+) +diynn `).FindAllStringSubmatch(stdout, -1)
	if len(ran) != 1 || ran[0][1] != "exp5-fmnist-ae2-latent" {
		t.Errorf("-resume ran %v; want only exp5-fmnist-ae2-latent", ran)
	}
	if !strings.Contains(stdout, "exp2-fmnist-relu             reused") {
		t.Errorf("-resume did not say it reused exp2-fmnist-relu:\n%s", lastLines(stdout, 40))
	}
	// And a step run again under -resume is reused by the next one.
	code, stdout, stderr = runCLI("reproduce", "-quick", "-resume", "-out", out, "-data-dir", dataDir)
	if ran := regexp.MustCompile(`(?m)^  (\S+) +diynn `).FindAllStringSubmatch(stdout, -1); code != 0 || len(ran) != 0 {
		t.Errorf("a second -resume: exit %d, ran %v; want nothing run\n%s", code, ran, stderr)
	}
	// An autoencoder that changed makes the steps that read it run again,
	// and only those.
	other, err := os.ReadFile(filepath.Join(out, "exp3-ae2-report", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "exp3-ae2", "model.safetensors"), other, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI("reproduce", "-quick", "-resume", "-out", out, "-data-dir", dataDir)
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  (\S+) +diynn `).FindAllStringSubmatch(stdout, -1) {
		names = append(names, m[1])
	}
	if code != 0 || !slices.Contains(names, "exp5-fmnist-ae2-latent") || !slices.Contains(names, "exp4-ae2-train-codes") ||
		slices.Contains(names, "exp5-fmnist-ae3-latent") || slices.Contains(names, "exp3-ae2") {
		t.Errorf("-resume after exp3-ae2's model changed: exit %d, ran %v; want the steps that read it only\n%s", code, names, stderr)
	}
	again, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(again), "earlier, interrupted run") || !strings.Contains(string(again), "| ae2 latent |") {
		t.Errorf("README.md after -resume lacks the reuse note or Table 5:\n%s", lastLines(string(again), 30))
	}
}
