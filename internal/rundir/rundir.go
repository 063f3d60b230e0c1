// Package rundir makes a run's output directory the property of one run at
// a time. A run holds an exclusive lock on DIR/.lock while it writes; a
// second run that tries to take it is refused with the holder's process id
// and start time. The lock is an operating-system file lock (flock on
// Unix), so the kernel releases it when its process dies, however it dies:
// a lock file left by a crash is detected as stale (its lock is free) and
// reported, never mistaken for a live run.
package rundir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LockName is the lock file's name inside a run directory.
const LockName = ".lock"

// ErrBusy is wrapped by the error Lock returns when another live run holds
// the directory.
var ErrBusy = errors.New("run directory is in use")

// Lock is a held run directory.
type Lock struct {
	dir  string
	file *os.File
	// Stale describes the lock file of an earlier run that ended without
	// releasing it (a crash, kill -9), taken over by this one; empty when
	// there was none.
	Stale string
}

// Acquire takes the lock of dir, which must exist. It fails at once, with
// an error wrapping ErrBusy, while another process (or another Lock in
// this one) holds it.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, LockName)
	var f *os.File
	for attempt := 0; ; attempt++ {
		var err error
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644); err != nil {
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		if err := lockFile(f); err != nil {
			holder, _ := os.ReadFile(path)
			f.Close()
			if errors.Is(err, errLocked) {
				return nil, fmt.Errorf("%s: %w by %s", dir, ErrBusy, describe(holder))
			}
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		// A run releasing the lock unlinks the file: if ours was unlinked
		// between the open and the lock, the lock is on a file no one else
		// sees, so try again on the current one.
		held, err1 := f.Stat()
		current, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, current) {
			break
		}
		f.Close()
		if attempt == 10 {
			return nil, fmt.Errorf("locking %s: its lock file keeps changing", dir)
		}
	}
	l := &Lock{dir: dir, file: f}
	if old, _ := os.ReadFile(path); len(old) > 0 {
		l.Stale = fmt.Sprintf("%s ended without releasing %s (crashed or killed?); taking it over", describe(old), path)
	}
	host, _ := os.Hostname()
	stamp := fmt.Sprintf("pid %d\nhost %s\nstarted %s\nargs %s\n", os.Getpid(), host,
		time.Now().UTC().Format(time.RFC3339), strings.Join(os.Args, " "))
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(stamp), 0)
	}
	return l, nil
}

// describe turns the content of a lock file into "pid N on HOST (started T)".
func describe(content []byte) string {
	fields := map[string]string{}
	for _, line := range strings.Split(string(content), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			fields[k] = v
		}
	}
	pid, err := strconv.Atoi(fields["pid"])
	if err != nil {
		return "another run"
	}
	s := fmt.Sprintf("the run of pid %d", pid)
	if h := fields["host"]; h != "" {
		s += " on " + h
	}
	if t := fields["started"]; t != "" {
		s += " (started " + t + ")"
	}
	return s
}

// Release removes the lock file and releases the lock. It is safe to call
// more than once.
func (l *Lock) Release() error {
	if l == nil || l.file == nil {
		return nil
	}
	// Remove first, while still holding the lock, so that no other run can
	// take a lock on the file about to be unlinked.
	err := os.Remove(filepath.Join(l.dir, LockName))
	err = errors.Join(err, l.file.Close())
	l.file = nil
	return err
}
