package data

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes the Go heap handed out while fn ran.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestReadIDXFile(t *testing.T) {
	six := []byte{1, 2, 3, 4, 5, 6}
	good := idxBytes([]int{2, 3}, six)
	// A trailer that disagrees with the dimensions: 5 data bytes for 6.
	short := gz(idxBytes([]int{2, 3}, six[:5]))
	// Two gzip members: valid gzip, but the trailer counts only the last.
	twoMembers := append(gz(good[:8]), gz(good[8:])...)
	cases := []struct {
		name    string
		content []byte
		want    []string // in the error, after the path; none for success
		// maxAlloc bounds what the read may allocate, to show that a
		// claim is refused before its data is allocated.
		maxAlloc uint64
	}{
		{"raw", good, nil, 1 << 20},
		{"gzip", gz(good), nil, 1 << 20},
		{"raw, one byte short", good[:len(good)-1], []string{"dimensions [2 3] need 6 bytes of data, the file has 5 after its 12-byte header"}, 1 << 20},
		{"raw, one byte over", append(append([]byte{}, good...), 7), []string{"need 6 bytes of data, the file has 7"}, 1 << 20},
		{"raw, huge claim", idxBytes([]int{60000, 28, 28}, six), []string{"dimensions [60000 28 28] need 47040000 bytes of data, the file has 6"}, 1 << 20},
		{"gzip, huge claim", gz(idxBytes([]int{1 << 15, 1 << 15}, six)), []string{"[32768 32768] need 1073741836 bytes", "compressed bytes can hold", "1032:1"}, 1 << 20},
		{"gzip, trailer disagrees", short, []string{"need 18 bytes uncompressed, but the gzip trailer records 17"}, 1 << 20},
		{"gzip, two members", twoMembers, []string{"gzip trailer records 10"}, 1 << 20},
		{"gzip, bad header", []byte{0x1f, 0x8b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, []string{"decompressing: gzip: invalid header"}, 1 << 20},
		{"not IDX", []byte("hello, world"), []string{"not an IDX file"}, 1 << 20},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".idx")
			if err := os.WriteFile(path, c.content, 0o644); err != nil {
				t.Fatal(err)
			}
			var idx *IDX
			var err error
			if n := allocated(func() { idx, err = ReadIDXFile(path) }); n > c.maxAlloc {
				t.Errorf("allocated %d bytes, want at most %d", n, c.maxAlloc)
			}
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(idx.Dims) != 2 || idx.Dims[0] != 2 || idx.Dims[1] != 3 || !bytes.Equal(idx.Data, six) {
					t.Errorf("got %+v", idx)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", c.want)
			}
			if !strings.HasPrefix(err.Error(), path+": ") || strings.Contains(err.Error(), "gzip: gzip:") {
				t.Errorf("error %q does not start with the path, or repeats gzip:", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestReadIDXFileRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ path, want string }{
		{dir, "is a directory, not an IDX file"},
		{filepath.Join(dir, "nonesuch"), "no such file"},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		cases = append(cases, struct{ path, want string }{"/dev/zero", "/dev/zero is a character device, not an IDX file"})
	}
	for _, c := range cases {
		_, err := ReadIDXFile(c.path)
		if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadIDXFile(%s) = %v, want an error naming it and mentioning %q", c.path, err, c.want)
		}
	}
}

// The stream reader says "gzip:" once.
func TestReadIDXGzipMessage(t *testing.T) {
	_, err := ReadIDX(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))
	if err == nil || err.Error() != "decompressing: gzip: invalid header" {
		t.Errorf("error %v", err)
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// Data beyond 64 MiB is read into one buffer of its size when the caller
// allows allocating it up front, and grows as it arrives otherwise.
func TestReadIDXUpFront(t *testing.T) {
	const total = 80 << 20
	cases := []struct {
		name               string
		upFront            int64
		minAlloc, maxAlloc uint64
	}{
		{"up front", total, total, total + 1<<20},
		{"more allowed", 2 * total, total, total + 1<<20},
		{"grown", 0, total + 64<<20, 1 << 40},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := io.MultiReader(bytes.NewReader(idxBytes([]int{total / 1024, 1024}, nil)), io.LimitReader(zeros{}, total))
			var idx *IDX
			var err error
			n := allocated(func() { idx, err = readIDX(r, nil, c.upFront) })
			if err != nil {
				t.Fatal(err)
			}
			if len(idx.Data) != total {
				t.Fatalf("read %d bytes, want %d", len(idx.Data), total)
			}
			if n < c.minAlloc || n > c.maxAlloc {
				t.Errorf("allocated %d bytes, want %d to %d", n, c.minAlloc, c.maxAlloc)
			}
		})
	}
}
