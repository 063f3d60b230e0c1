package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
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
// The caller releases the directory when the run has written its last
// file, or abandons it when the run fails.
func claimRunDir(dir string, resume, overwrite bool, log io.Writer) (*runDir, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return nil, usagef("-out %s is a file, not a directory", dir)
	}
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, usagef("-out: %v", err)
	}
	rd := &runDir{dir: dir, created: errors.Is(statErr, fs.ErrNotExist)}
	lock, err := rundir.Acquire(dir)
	if err != nil {
		rd.abandon()
		if errors.Is(err, rundir.ErrBusy) {
			return nil, usagef("-out %v: wait for it to finish, or choose another -out", err)
		}
		return nil, usagef("-out: %v", err)
	}
	rd.lock = lock
	ok := false
	defer func() {
		if !ok {
			rd.abandon()
		}
	}()
	have, err := runDirVerdict(dir, resume, overwrite) // first: a refused run cleans nothing
	if err != nil {
		return nil, err
	}
	if lock.Stale != "" {
		fmt.Fprintf(log, "note: %s\n", lock.Stale)
	}
	if removed, err := atomicfile.RemoveLeftovers(dir, runFiles...); err != nil {
		return nil, fmt.Errorf("cleaning %s: %w", dir, err)
	} else if len(removed) > 0 {
		fmt.Fprintf(log, "removed %s left by interrupted writes in %s: %s\n", plural(len(removed), "temporary file"), dir, strings.Join(removed, ", "))
	}
	switch {
	case len(have) == 0 && resume:
		fmt.Fprintf(log, "-resume: %s holds no run yet; starting from the beginning\n", dir)
	case len(have) > 0 && overwrite:
		for _, f := range have {
			if err := os.Remove(filepath.Join(dir, f)); err != nil {
				return nil, fmt.Errorf("-overwrite: %w", err)
			}
		}
		fmt.Fprintf(log, "-overwrite: removed the earlier run's %s from %s\n", strings.Join(have, ", "), dir)
	}
	ok = true
	return rd, nil
}

// runDirVerdict decides, from what dir holds, whether a run may use it
// with these flags, and returns the earlier run's files. It changes
// nothing: trainCmd asks it first, before the data is read, so that a
// forgotten -resume costs no wait; claimRunDir asks again under the lock.
func runDirVerdict(dir string, resume, overwrite bool) ([]string, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return nil, usagef("-out %s is a file, not a directory", dir)
	}
	have := existingRunFiles(dir)
	checkpoint := filepath.Join(dir, "checkpoint.safetensors")
	_, errCkpt := os.Stat(checkpoint)
	hasCheckpoint := errCkpt == nil
	switch {
	case len(have) == 0, overwrite, resume && hasCheckpoint:
		return have, nil
	case resume:
		if slices.Contains(have, "model.safetensors") {
			return nil, usagef("-resume: %s holds a finished run (model.safetensors, no checkpoint): nothing to resume; "+
				"pass -overwrite to train it again, or choose another -out", dir)
		}
		return nil, usagef("-resume: %s holds %s but no checkpoint to resume from; pass -overwrite to start again", dir, strings.Join(have, ", "))
	}
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

// runDir is a run directory this run holds.
type runDir struct {
	dir     string
	created bool // by this run: removed again if the run leaves nothing in it
	lock    *rundir.Lock
}

// release lets the directory go when the run is done.
func (r *runDir) release() { r.lock.Release() }

// abandon lets the directory go after a failure, removing it if this run
// created it and left nothing in it.
func (r *runDir) abandon() {
	r.lock.Release()
	if r.created {
		os.Remove(r.dir) // only if empty
	}
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
