package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/diynn/diynn/internal/atomicfile"
	"github.com/diynn/diynn/internal/rundir"
	"github.com/diynn/diynn/safetensors"
)

// runFiles are the files diynn train writes into its -out directory; any
// of them there means the directory holds a run.
var runFiles = []string{"model.safetensors", "checkpoint.safetensors", "history.csv", "metrics.json",
	"curves.png", "confusion.png", "reconstructions.png"}

// existingRunFiles lists the run files present in dir.
func existingRunFiles(dir string) []string {
	var have []string
	for _, f := range runFiles {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			have = append(have, f)
		}
	}
	return have
}

// claimRunDir creates dir, takes its lock, removes what interrupted writes
// left there, and decides what the run may do with what it finds:
//   - an empty directory (or none) is simply used;
//   - an earlier run's files need -resume (its checkpoint is continued) or
//     -overwrite (they are deleted first); without either, nothing is
//     touched and the user is told which to pass;
//   - -resume on a finished run (a model but no checkpoint) is refused:
//     there is nothing to continue.
//
// The caller releases the lock when the run has written its last file.
func claimRunDir(dir string, resume, overwrite bool, log io.Writer) (*rundir.Lock, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return nil, usagef("-out %s is a file, not a directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("-out: %w", err)
	}
	lock, err := rundir.Acquire(dir)
	if err != nil {
		if errors.Is(err, rundir.ErrBusy) {
			return nil, usagef("-out %v: wait for it to finish, or choose another -out", err)
		}
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Release()
		}
	}()
	if lock.Stale != "" {
		fmt.Fprintf(log, "note: %s\n", lock.Stale)
	}
	if removed, err := atomicfile.RemoveLeftovers(dir); err != nil {
		return nil, fmt.Errorf("cleaning %s: %w", dir, err)
	} else if len(removed) > 0 {
		fmt.Fprintf(log, "removed %s from interrupted writes in %s\n", plural(len(removed), "temporary file"), dir)
	}
	have := existingRunFiles(dir)
	checkpoint := filepath.Join(dir, "checkpoint.safetensors")
	_, errCkpt := os.Stat(checkpoint)
	hasCheckpoint := errCkpt == nil
	switch {
	case len(have) == 0:
		if resume {
			fmt.Fprintf(log, "-resume: %s holds no run yet; starting from the beginning\n", dir)
		}
	case overwrite:
		for _, f := range have {
			if err := os.Remove(filepath.Join(dir, f)); err != nil {
				return nil, fmt.Errorf("-overwrite: %w", err)
			}
		}
		fmt.Fprintf(log, "-overwrite: removed the earlier run's %s from %s\n", strings.Join(have, ", "), dir)
	case resume && hasCheckpoint:
	case resume:
		if slices.Contains(have, "model.safetensors") {
			return nil, usagef("-resume: %s holds a finished run (model.safetensors, no checkpoint): nothing to resume; "+
				"pass -overwrite to train it again, or choose another -out", dir)
		}
		return nil, usagef("-resume: %s holds %s but no checkpoint to resume from; pass -overwrite to start again", dir, strings.Join(have, ", "))
	default:
		what := "a finished run"
		hint := "pass -overwrite to replace it, or choose another -out"
		if hasCheckpoint {
			what = "an unfinished run" + checkpointPosition(checkpoint)
			hint = "pass -resume to continue it, -overwrite to start again, or choose another -out"
		} else if !slices.Contains(have, "model.safetensors") {
			what = "an unfinished run (no checkpoint)"
		}
		return nil, usagef("-out %s already holds %s (%s): %s", dir, what, strings.Join(have, ", "), hint)
	}
	ok = true
	return lock, nil
}

// checkpointPosition describes how far a checkpoint got, for messages.
func checkpointPosition(path string) string {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return ""
	}
	s := fmt.Sprintf(", checkpoint after epoch %s", f.Metadata["checkpoint.epoch"])
	if e := f.Metadata["checkpoint.setting.epochs"]; e != "" {
		s += " of " + e
	}
	return s
}

// plural writes "1 epoch", "2 epochs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
