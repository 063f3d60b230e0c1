// Package inputfile opens the files users name, refusing before anything
// is read what no reader should wait on or allocate for: a directory, a
// device such as /dev/zero (endless), a named pipe (opening one waits for
// a writer), a socket, or a file past a size limit. Every reader of user
// files in diynn (safetensors, IDX, CSV) opens through it, so each check
// and each message exists once.
package inputfile

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/diynn/diynn/internal/bytesize"
)

// Kind describes a file mode for messages: "a directory", "a named pipe"…
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

// Open opens path for reading if it is a regular file of at most maxBytes
// (no limit when maxBytes <= 0), and returns it with its size. It checks
// the path before opening it, so that a FIFO cannot block it, and the
// opened file again, in case the path was replaced in between. want names
// what the caller reads ("a safetensors file"), for the messages.
func Open(path, want string, maxBytes int64) (*os.File, int64, error) {
	if err := check(path, want, maxBytes, os.Stat); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkInfo(path, want, maxBytes, fi)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

func check(path, want string, maxBytes int64, stat func(string) (fs.FileInfo, error)) error {
	fi, err := stat(path)
	if err != nil {
		return err
	}
	return checkInfo(path, want, maxBytes, fi)
}

func checkInfo(path, want string, maxBytes int64, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is %s, not %s", path, Kind(fi.Mode()), want)
	}
	if maxBytes > 0 && fi.Size() > maxBytes {
		return fmt.Errorf("%s is %s (%d bytes), more than the limit of %s (%d bytes) for %s",
			path, bytesize.Format(fi.Size()), fi.Size(), bytesize.Format(maxBytes), maxBytes, want)
	}
	return nil
}
