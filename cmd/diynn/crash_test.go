//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestKillNineThenResume kills a training run with SIGKILL — no handler
// runs, the lock file stays, a checkpoint write may be cut short — and
// checks what the next run makes of it: the stale lock reported and taken
// over, the interrupted writes' temporary files removed, and -resume
// ending with the model of a run never killed, byte for byte.
func TestKillNineThenResume(t *testing.T) {
	dir := t.TempDir()
	args := []string{"-data", "dots", "-model", "linear(2,16) tanh linear(16,4)", "-epochs", "40", "-batch", "8", "-seed", "2"}
	straight := filepath.Join(dir, "straight")
	mustTrain(t, append(args, "-out", straight)...)

	out := filepath.Join(dir, "run")
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
	a, _ := os.ReadFile(filepath.Join(straight, "model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(out, "model.safetensors"))
	if !bytes.Equal(a, b) {
		t.Error("the model resumed after kill -9 differs from the uninterrupted run's")
	}
}
