package rundir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestAcquireRefusesASecondHolder(t *testing.T) {
	dir := t.TempDir()
	a, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Stale != "" {
		t.Errorf("fresh directory reported a stale lock: %s", a.Stale)
	}
	_, err = Acquire(dir)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second Acquire: %v, want ErrBusy naming pid %d", err, os.Getpid())
	}
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, LockName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Release left the lock file: %v", err)
	}
	b, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	b.Release()
	b.Release() // twice is fine
}

// A lock file whose lock is free is what a killed run leaves: it is taken
// over and reported.
func TestAcquireReportsAStaleLock(t *testing.T) {
	dir := t.TempDir()
	stale := "pid 999999\nhost elsewhere\nstarted 2026-01-02T03:04:05Z\n"
	if err := os.WriteFile(filepath.Join(dir, LockName), []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if !strings.Contains(l.Stale, "pid 999999 on elsewhere (started 2026-01-02T03:04:05Z)") {
		t.Errorf("Stale = %q", l.Stale)
	}
}

func TestAcquireNeedsTheDirectory(t *testing.T) {
	if _, err := Acquire(filepath.Join(t.TempDir(), "missing")); err == nil || errors.Is(err, ErrBusy) {
		t.Errorf("Acquire of a missing directory: %v", err)
	}
}
