package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diynn/diynn/internal/testenv"
)

// A joint autoencoder trains from a spec with -task joint: its metrics
// have both heads' results, its figures both kinds, and embed takes its
// encoder.
func TestTrainJoint(t *testing.T) {
	dataDir := testenv.DataDir(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "joint")
	spec := "linear(784,16) tanh concat[tied(0) sigmoid | linear(16,10)]"
	code, stdout, stderr := runCLI("train", "-data", "fashion-mnist", "-data-dir", dataDir, "-model", spec, "-task", "joint", "-encoder", "2",
		"-class-weight", "0.5", "-limit", "1000", "-epochs", "2", "-out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	m, err := readMetrics(filepath.Join(out, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"accuracy", "macro_f1", "eval_bce", "test_bce", "eval_loss", "class_weight"} {
		if v := num(m, k); !(v > 0) {
			t.Errorf("metrics.json %s = %v", k, m[k])
		}
	}
	if m["task"] != "joint" || num(m, "eval_bce") > 0.7 || num(m, "accuracy") < 0.3 {
		t.Errorf("task %v, eval_bce %v, accuracy %v", m["task"], m["eval_bce"], m["accuracy"])
	}
	for _, f := range []string{"confusion.png", "reconstructions.png", "curves.png", "model.safetensors"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	code, stdout, stderr = runCLI("embed", "-model", filepath.Join(out, "model.safetensors"), "-data-dir", dataDir, "-limit", "50", "-out", filepath.Join(dir, "codes"))
	if code != 0 {
		t.Fatalf("embed: exit %d: %s\n%s", code, stderr, stdout)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "codes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if header, _, _ := strings.Cut(string(csv), "\n"); strings.Count(header, ",") != 16 { // 16 code values and the label
		t.Errorf("embed of the joint model's encoder: header %q, want 16 values and a label", header)
	}
	// Flags that only a joint autoencoder takes are refused elsewhere.
	code, _, stderr = runCLI("train", "-data", "iris", "-model", "iris-mlp", "-class-weight", "2", "-out", filepath.Join(dir, "x"))
	if code != 2 || !strings.Contains(stderr, "-class-weight applies to joint autoencoders") {
		t.Errorf("-class-weight on a classifier: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCLI("train", "-data", "fashion-mnist", "-data-dir", dataDir, "-model", spec, "-task", "joint", "-encoder", "2", "-class-weight", "-1", "-out", filepath.Join(dir, "y"))
	if code != 2 || !strings.Contains(stderr, "-class-weight -1") {
		t.Errorf("-class-weight -1: exit %d, %s", code, stderr)
	}
}
