//go:build unix

package inputfile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpenRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("12345"), 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		max  int64
		want string
	}{
		{small, 0, ""},
		{small, 5, ""},
		{small, 4, "is 5 B (5 bytes), more than the limit of 4 B (4 bytes) for a test file"},
		{dir, 0, "is a directory, not a test file"},
		{"/dev/zero", 0, "is a character device, not a test file"},
		{fifo, 0, "is a named pipe (FIFO), not a test file"}, // and does not block
		{filepath.Join(dir, "missing"), 0, "no such file"},
	}
	for _, c := range cases {
		f, size, err := Open(c.path, "a test file", c.max)
		if c.want == "" {
			if err != nil || size != 5 {
				t.Errorf("Open(%s, %d): %v, size %d", c.path, c.max, err, size)
			}
			f.Close()
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("Open(%s, %d): %v, want %q", c.path, c.max, err, c.want)
		}
	}
}
