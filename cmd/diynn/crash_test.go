//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the diynn command in a child process: the test
// binary re-executed with DIYNN_TEST_MAIN=1 is diynn.
func TestMain(m *testing.M) {
	if os.Getenv("DIYNN_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// uninterrupted trains args into a fresh directory and returns its model
// file's bytes, and the directory for the run under test to use.
func uninterrupted(t *testing.T, args []string) (model []byte, out string) {
	t.Helper()
	dir := t.TempDir()
	mustTrain(t, append(args, "-out", filepath.Join(dir, "straight"))...)
	model, err := os.ReadFile(filepath.Join(dir, "straight", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return model, filepath.Join(dir, "run")
}

// TestKillNineThenResume kills a training run with SIGKILL — no handler
// runs, the lock file stays, a checkpoint write may be cut short — and
// checks what the next run makes of it: the stale lock reported and taken
// over, the interrupted writes' temporary files removed, and -resume
// ending with the model of a run never killed, byte for byte.
func TestKillNineThenResume(t *testing.T) {
	args := []string{"-data", "dots", "-model", "linear(2,16) tanh linear(16,4)", "-epochs", "40", "-batch", "8", "-seed", "2"}
	want, out := uninterrupted(t, args)
	cmd := exec.Command(os.Args[0], append([]string{"train", "-quiet", "-out", out}, args...)...)
	cmd.Env = append(os.Environ(), "DIYNN_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(out, "checkpoint.safetensors")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after a minute: %s", stderr.String())
		}
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(out, ".lock")); err != nil {
		t.Fatalf("the killed run left no lock file to detect: %v", err)
	}
	// What a kill in the middle of a checkpoint write leaves.
	os.WriteFile(filepath.Join(out, ".checkpoint.safetensors.tmp-12345"), []byte("half"), 0o644)

	code, _, errOut := runCLI(append([]string{"train", "-quiet", "-out", out, "-resume"}, args...)...)
	if code != 0 {
		t.Fatalf("resume after kill -9: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "ended without releasing") || !strings.Contains(errOut, "removed 1 temporary file") {
		t.Errorf("the stale lock or the leftover was not reported:\n%s", errOut)
	}
	leftovers, _ := filepath.Glob(filepath.Join(out, ".*tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("leftovers remain: %v", leftovers)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "model.safetensors")); !bytes.Equal(got, want) {
		t.Error("the model resumed after kill -9 differs from the uninterrupted run's")
	}
}

// interruptWhenStarted sends this process SIGINT once path exists: the
// training run under test then holds the signal (it would kill the test
// binary otherwise, which is why the run is long enough to be caught).
func interruptWhenStarted(t *testing.T, path string) {
	go func() {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(path); err == nil {
				syscall.Kill(os.Getpid(), syscall.SIGINT)
				return
			}
		}
	}()
}

// Ctrl-C stops after the current step with a checkpoint and the command
// that continues it; -resume with other settings is refused, naming them;
// the resumed run ends with the model of a run never interrupted.
func TestCtrlCThenResume(t *testing.T) {
	args := []string{"-data", "dots", "-model", "linear(2,16) tanh linear(16,4)", "-epochs", "60", "-batch", "8", "-seed", "4"}
	want, out := uninterrupted(t, args)
	interruptWhenStarted(t, filepath.Join(out, "history.csv"))
	code, _, stderr := runCLI(append([]string{"train", "-quiet"}, append(args, "-out", out)...)...)
	if code != 130 || !strings.Contains(stderr, "training interrupted at") || !strings.Contains(stderr, "to continue: diynn train -quiet -data dots") ||
		!strings.Contains(stderr, "-resume") {
		t.Fatalf("interrupted run: exit %d, %q", code, stderr)
	}
	t.Log(stderr)
	if _, err := os.Stat(filepath.Join(out, "checkpoint.safetensors")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		change []string
		want   string
	}{
		{[]string{"-seed", "5"}, `seed: "4" in the checkpoint, "5" now`},
		{[]string{"-lr", "0.01"}, `lr: "0.001" in the checkpoint, "0.01" now`},
		{[]string{"-optim", "sgd"}, `optimizer: "adam" in the checkpoint, "sgd" now`},
		{[]string{"-epochs", "1"}, "epochs:"},
		{[]string{"-val", "0.5"}, `val: "0" in the checkpoint, "0.5" now`},
	} {
		code, _, stderr := runCLI(append([]string{"train"}, append(append(args, "-out", out, "-resume"), c.change...)...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("-resume with %v: exit %d, %q; want 2 and %q", c.change, code, stderr, c.want)
		}
	}
	mustTrain(t, append(args, "-out", out, "-resume")...)
	if got, _ := os.ReadFile(filepath.Join(out, "model.safetensors")); !bytes.Equal(got, want) {
		t.Error("the resumed run's model differs from the uninterrupted run's")
	}
	if h, _ := os.ReadFile(filepath.Join(out, "history.csv")); strings.Count(string(h), "\n") != 1+60 {
		t.Errorf("history: %d lines, want a header and 60 epochs", strings.Count(string(h), "\n"))
	}
}
