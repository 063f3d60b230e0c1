package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/internal/inputfile"
)

// sameFile reports whether paths a and b name the same file: the same
// inode when both exist, else the same cleaned absolute path. Commands use
// it to refuse an output that would overwrite one of their inputs.
func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}

// fileSHA256 is the hex SHA-256 of a file's content.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// dataChecksum is a CRC-32C over the samples and labels of the datasets,
// in order: the same files, split and sample give the same value (it
// takes about 20 ms for Fashion-MNIST).
func dataChecksum(sets ...*data.Dataset) string {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	buf := make([]byte, 0, 1<<16)
	add := func(v []float32) {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
			if len(buf) == cap(buf) {
				h.Write(buf)
				buf = buf[:0]
			}
		}
	}
	for _, d := range sets {
		if d != nil {
			add(d.X)
			add(d.Y)
		}
	}
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

// checkOutPrefix checks, before a long run, that the outputs PREFIX+ext
// can be written: the prefix names a file in a directory that exists, no
// output is an input (inputs maps flag to path) and none is in the way as
// a directory. It leaves nothing behind.
func checkOutPrefix(flagName, prefix string, inputs map[string]string, exts ...string) error {
	if base := filepath.Base(prefix); strings.HasSuffix(prefix, "/") || strings.HasSuffix(prefix, string(filepath.Separator)) ||
		base == "." || base == ".." {
		return usagef("%s %s names a directory, not a file prefix: want e.g. %s", flagName, prefix, filepath.Join(prefix, "tsne-2d"))
	}
	if st, err := os.Stat(prefix); err == nil && st.IsDir() {
		return usagef("%s %s is a directory, not a file prefix: want e.g. %s", flagName, prefix, filepath.Join(prefix, "out"))
	}
	dir := filepath.Dir(prefix)
	st, err := os.Stat(dir)
	if err != nil {
		return usagef("%s %s: directory %s: %v", flagName, prefix, dir, pathErr(err))
	}
	if !st.IsDir() {
		return usagef("%s %s: %s is not a directory", flagName, prefix, dir)
	}
	for _, ext := range exts {
		p := prefix + ext
		for inFlag, in := range inputs {
			if sameFile(p, in) {
				return usagef("%s %s would overwrite %s %s with %s: choose another prefix", flagName, prefix, inFlag, in, p)
			}
		}
		if st, err := os.Stat(p); err == nil && !st.Mode().IsRegular() {
			return usagef("%s %s: %s is %s, in the way of an output file", flagName, prefix, p, inputfile.Kind(st.Mode()))
		}
	}
	// A file created and removed at once: only a write shows that the
	// directory takes one (permissions do not, for root or on sysfs).
	probe, err := os.CreateTemp(dir, ".diynn-write-test-*")
	if err != nil {
		return usagef("%s %s: cannot write in %s: %v", flagName, prefix, dir, pathErr(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// pathErr drops the operation and path from an *fs.PathError, which the
// messages already name.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// refuseEmpty refuses the named flags when they were given as empty
// strings: "" is what a shell makes of an unset variable, and taking it
// for the default would write somewhere the user did not mean.
func refuseEmpty(fs *flag.FlagSet, names ...string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err == nil && slices.Contains(names, f.Name) && strings.TrimSpace(f.Value.String()) == "" {
			err = usagef("-%s is empty", f.Name)
		}
	})
	return err
}
