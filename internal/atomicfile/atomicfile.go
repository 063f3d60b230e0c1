// Package atomicfile writes files so that readers see the old content or
// the new one, never a part: the data goes to a temporary file in the same
// directory, which is synced and renamed over the target only when all of
// it was written. On any error the temporary file is removed.
package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// WriteFunc writes path with what fn writes to its (buffered) writer. If
// fn returns an error, path is left as it was. The file is created with
// mode 0644, as os.WriteFile(path, data, 0o644) would (temporary files are
// private until then).
func WriteFunc(path string, fn func(w io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := fn(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Write writes data to path.
func Write(path string, data []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// RemoveLeftovers deletes the temporary files that interrupted writes (a
// crash, kill -9) of the named files left in dir — ".NAME.tmp-*", as
// WriteFunc names them — and returns their names. Other files, a user's
// own dot-files among them, are left alone. Call it only while no other
// process writes into dir (a run directory's lock is held).
func RemoveLeftovers(dir string, names ...string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() || !slices.ContainsFunc(names, func(n string) bool {
			suffix, ok := strings.CutPrefix(e.Name(), "."+n+".tmp-")
			return ok && suffix != "" && strings.Trim(suffix, "0123456789") == "" // os.CreateTemp's digits
		}) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}
