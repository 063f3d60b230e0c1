package data

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// writeIDXDataset writes the four files of the tiny dataset, gzipped, to a
// directory of their own, with the given files replaced (nil: left out),
// and returns the source and the directory.
func writeIDXDataset(t *testing.T, replace map[string][]byte) (*IDXSource, string) {
	t.Helper()
	src, files := fakeSource(t)
	dir := t.TempDir()
	for name, b := range files {
		if r, ok := replace[name]; ok {
			if r == nil {
				continue
			}
			b = gz(r)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src, dir
}

// The tiny dataset's files hold 12, 3, 4 and 1 values. Read in that order,
// each needing 5 bytes a value while read and keeping 4, they peak at
// 60, 48+15, 60+20 and 76+5 bytes: 81 is the smallest limit that loads.
func TestLoadIDXChecks(t *testing.T) {
	const (
		trainImg = "train-images-idx3-ubyte.gz"
		trainLbl = "train-labels-idx1-ubyte.gz"
		testImg  = "t10k-images-idx3-ubyte.gz"
		testLbl  = "t10k-labels-idx1-ubyte.gz"
	)
	// A bomb: 4000×28×28 zeros gzip to a few kB, with a true trailer.
	bomb := idxBytes([]int{4000, 28, 28}, make([]byte, 4000*28*28))
	cases := []struct {
		name     string
		replace  map[string][]byte
		maxBytes int64
		testOnly bool
		// want: substrings of the error, "$NAME" standing for the path of
		// the file NAME; none for success.
		want     []string
		tooLarge bool   // the error wraps ErrTooLarge
		maxAlloc uint64 // when set, LoadIDX allocates at most this much
	}{
		{name: "no limit"},
		{name: "at the limit", maxBytes: 81},
		{name: "test labels over the limit", maxBytes: 80, tooLarge: true,
			want: []string{"$" + testLbl + ": tiny test labels: IDX dimensions [1] (1 values) need 5 B (5 bytes: 1 a value as read, 4 as float32) to load, " +
				"more than the 4 B (4 bytes) left of the memory limit of 80 B (80 bytes) after the files already read: " + ErrTooLarge.Error()}},
		{name: "training images over the limit", maxBytes: 59, tooLarge: true,
			want: []string{"$" + trainImg + ": tiny training images: IDX dimensions [3 2 2] (12 values) need 60 B (60 bytes", "to load, more than the memory limit of 59 B (59 bytes): "}},
		{name: "test only, at the limit", maxBytes: 21, testOnly: true},
		{name: "test only, over the limit", maxBytes: 20, testOnly: true, tooLarge: true,
			want: []string{"$" + testLbl + ": tiny test labels: IDX dimensions [1]", "more than the 4 B (4 bytes) left of the memory limit of 20 B (20 bytes)"}},
		{name: "bomb", maxBytes: 1 << 20, tooLarge: true, maxAlloc: 256 << 10,
			replace: map[string][]byte{trainImg: bomb, trainLbl: idxBytes([]int{4000}, make([]byte, 4000))},
			want:    []string{"$" + trainImg + ": tiny training images: IDX dimensions [4000 28 28] (3136000 values) need 15.7 MB (15680000 bytes", "more than the memory limit of 1.0 MB (1048576 bytes): "}},
		// With no limit at all, a header that disagrees with its labels'
		// count is refused before the images are allocated.
		{name: "bomb without a limit", maxAlloc: 256 << 10, replace: map[string][]byte{trainImg: bomb},
			want: []string{"$" + trainImg + ": tiny training images: 4000 of them (shape [4000 28 28]), but $" + trainLbl + " holds 3 labels"}},
		{name: "negative limit", maxBytes: -1, want: []string{"tiny: memory limit of -1 bytes: want 0 (no limit) or a positive byte count"}},
		{name: "test images of another shape",
			replace: map[string][]byte{testImg: idxBytes([]int{1, 1, 4}, []byte{1, 2, 3, 4})},
			want: []string{"$" + testImg + ": tiny test images are 1×4 (shape [1 1 4]), but the training images $" + trainImg +
				" are 2×2 (shape [3 2 2]): both splits need the same image shape"}},
		{name: "flat test images",
			replace: map[string][]byte{testImg: idxBytes([]int{1, 4}, []byte{1, 2, 3, 4})},
			want:    []string{"test images are 4 (shape [1 4]), but the training images"}},
		{name: "1-D images",
			replace: map[string][]byte{trainImg: idxBytes([]int{12}, make([]byte, 12))},
			want:    []string{"$" + trainImg + ": tiny training images have shape [12]: images need at least 2 dimensions (N×pixels…)"}},
		{name: "too few labels",
			replace: map[string][]byte{trainLbl: idxBytes([]int{2}, []byte{0, 1})},
			want:    []string{"$" + trainImg + ": tiny training images: 3 of them (shape [3 2 2]), but $" + trainLbl + " holds 2 labels"}},
		{name: "2-D labels",
			replace: map[string][]byte{testLbl: idxBytes([]int{1, 1}, []byte{1})},
			want:    []string{"$" + testLbl + ": tiny test labels have shape [1 1], want [1]"}},
		{name: "label out of range",
			replace: map[string][]byte{trainLbl: idxBytes([]int{3}, []byte{0, 1, 2})},
			want:    []string{"$" + trainLbl + ": training split: tiny: label 2 of sample 2 is not one of 2 classes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, dir := writeIDXDataset(t, c.replace)
			o := Options{Dir: dir, NoDownload: true, CacheDir: t.TempDir(), MaxBytes: c.maxBytes, TestOnly: c.testOnly}
			var train, test *Dataset
			var err error
			n := allocated(func() { train, test, err = LoadIDX(src, o) })
			if c.maxAlloc > 0 && n > c.maxAlloc {
				t.Errorf("allocated %d bytes, want at most %d", n, c.maxAlloc)
			}
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if c.testOnly != (train == nil) || test.N != 1 || test.Features != 4 || test.X[0] != 9.0/255 || test.Y[0] != 1 {
					t.Errorf("train %+v test %+v", train, test)
				}
				if train != nil && (train.N != 3 || train.Features != 4 || train.X[1] != 1 || train.Y[2] != 1) {
					t.Errorf("train %+v", train)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", c.want)
			}
			for _, w := range c.want {
				for _, name := range []string{trainImg, trainLbl, testImg, testLbl} {
					w = strings.ReplaceAll(w, "$"+name, filepath.Join(dir, name))
				}
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if errors.Is(err, ErrTooLarge) != c.tooLarge {
				t.Errorf("errors.Is(%q, ErrTooLarge) = %v, want %v", err, !c.tooLarge, c.tooLarge)
			}
		})
	}
}

// The raw bytes of the images are dropped once converted, before the
// labels are read: the live heap then holds X (4 bytes a value), not X and
// the bytes (5).
func TestLoadIDXDropsRawImages(t *testing.T) {
	const values = 4 << 20 // 16 MiB as float32, 4 MiB as bytes
	src, dir := writeIDXDataset(t, map[string][]byte{
		"train-images-idx3-ubyte.gz": idxBytes([]int{values / 4, 2, 2}, make([]byte, values)),
		"train-labels-idx1-ubyte.gz": idxBytes([]int{values / 4}, make([]byte, values/4)),
	})
	var before runtime.MemStats
	var live uint64
	testHookBeforeLabels = func() {
		if live != 0 {
			return // the test split
		}
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		live = m.HeapAlloc - min(m.HeapAlloc, before.HeapAlloc)
	}
	defer func() { testHookBeforeLabels = nil }()
	runtime.GC()
	runtime.ReadMemStats(&before)
	train, _, err := LoadIDX(src, Options{Dir: dir, NoDownload: true, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes live", live)
	if want := uint64(4*values + values/2); live == 0 || live > want {
		t.Errorf("%d bytes live before the labels were read, want X's %d and at most %d in all", live, 4*values, want)
	}
	if train.N != values/4 {
		t.Errorf("train: %d samples", train.N)
	}
}

// Under a limit, each file's bytes are read into one buffer of their size,
// which the limit has room for, rather than grown as they arrive.
func TestLoadIDXAllocatesUpFrontUnderALimit(t *testing.T) {
	defer func(g int64) { growFrom = g }(growFrom)
	growFrom = 1 << 10
	const values = 1 << 20
	src, dir := writeIDXDataset(t, map[string][]byte{
		"train-images-idx3-ubyte.gz": idxBytes([]int{values / 4, 2, 2}, make([]byte, values)),
		"train-labels-idx1-ubyte.gz": idxBytes([]int{values / 4}, make([]byte, values/4)),
	})
	// The images' and labels' bytes, and their float32: 5 a value.
	const exact = 5 * (values + values/4)
	cases := []struct {
		name               string
		maxBytes           int64
		minAlloc, maxAlloc uint64
	}{
		// Slack: two gzip readers for the labels (their header is read
		// first, to check the images' count) and bufio buffers.
		{"limit", 1 << 30, exact, exact + values/4 + 1<<17},
		{"no limit", 0, exact + values/2, 1 << 40},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			n := allocated(func() {
				_, _, err = LoadIDX(src, Options{Dir: dir, NoDownload: true, CacheDir: t.TempDir(), MaxBytes: c.maxBytes})
			})
			if err != nil {
				t.Fatal(err)
			}
			if n < c.minAlloc || n > c.maxAlloc {
				t.Errorf("allocated %d bytes, want %d to %d", n, c.minAlloc, c.maxAlloc)
			}
		})
	}
}
