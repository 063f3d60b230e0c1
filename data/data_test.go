package data

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/diynn/diynn/internal/testenv"
)

// idxBytes builds an IDX file of unsigned bytes.
func idxBytes(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestReadIDX(t *testing.T) {
	good := idxBytes([]int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	cases := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"raw", good, ""},
		{"gzip", gz(good), ""},
		{"empty", nil, "magic number"},
		{"bad magic", append([]byte{1, 0}, good[2:]...), "not an IDX file"},
		{"float type", append([]byte{0, 0, 0x0d}, good[3:]...), "type 0x0d"},
		{"rank 0", []byte{0, 0, 8, 0}, "rank 0"},
		{"rank 9", []byte{0, 0, 8, 9}, "rank 9"},
		{"zero dim", idxBytes([]int{2, 0}, nil), "dimension 2 is 0"},
		{"truncated header", good[:9], "dimension 2 of 2"},
		{"truncated data", good[:len(good)-1], "truncated"},
		{"trailing data", append(append([]byte{}, good...), 7), "longer than"},
		{"huge dims", idxBytes([]int{1 << 20, 1 << 20}, nil), "exceed"},
		{"corrupt gzip", gz(good)[:20], "unexpected EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			idx, err := ReadIDX(bytes.NewReader(c.in))
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(idx.Dims) != 2 || idx.Dims[0] != 2 || idx.Dims[1] != 3 || !bytes.Equal(idx.Data, []byte{1, 2, 3, 4, 5, 6}) {
					t.Errorf("got %+v", idx)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %v, want one mentioning %q", err, c.wantErr)
			}
		})
	}
}

// A reader may return its last bytes together with io.EOF (gzip over a
// file does); that must not count as truncation.
func TestReadIDXDataWithEOF(t *testing.T) {
	good := idxBytes([]int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	for _, r := range []io.Reader{iotest.DataErrReader(bytes.NewReader(good)), iotest.OneByteReader(bytes.NewReader(good)),
		iotest.DataErrReader(bytes.NewReader(gz(good)))} {
		if _, err := ReadIDX(r); err != nil {
			t.Error(err)
		}
	}
}

func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes([]int{2, 3}, []byte{1, 2, 3, 4, 5, 6}))
	f.Add(gz(idxBytes([]int{1}, []byte{9})))
	f.Add([]byte{0, 0, 8, 3, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := ReadIDX(bytes.NewReader(b))
		if err != nil {
			return
		}
		n := 1
		for _, d := range idx.Dims {
			if d <= 0 {
				t.Fatalf("accepted dimension %d", d)
			}
			n *= d
		}
		if n != len(idx.Data) {
			t.Fatalf("dims %v but %d values", idx.Dims, len(idx.Data))
		}
	})
}

func TestReadLabelledCSV(t *testing.T) {
	cases := []struct {
		name, in, wantErr string
		n, features, k    int
	}{
		{"labelled", "a,b,label\n1,2,x\n3,4,y\n5,6,x\n", "", 3, 2, 2},
		{"unlabelled", "a,b\n1,2\n", "", 1, 2, 1},
		{"label first", "label,a\nq,1.5\n", "", 1, 1, 1},
		{"empty", "", "header", 0, 0, 0},
		{"no rows", "a,b\n", "no rows", 0, 0, 0},
		{"not a number", "a,b\n1,zz\n", `line 2, column "b": "zz"`, 0, 0, 0},
		{"nan", "a\nNaN\n", "finite", 0, 0, 0},
		{"ragged", "a,b\n1\n", "wrong number of fields", 0, 0, 0},
		{"only label", "label\nx\n", "no feature columns", 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := ReadLabelledCSV(strings.NewReader(c.in), "label")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.N != c.n || d.Features != c.features || d.Classes() != c.k {
				t.Errorf("got %d samples × %d features, %d classes", d.N, d.Features, d.Classes())
			}
		})
	}
}

func FuzzReadLabelledCSV(f *testing.F) {
	f.Add("a,b,label\n1,2,x\n3,4,y\n")
	f.Add("x\n1e38\n-0\n")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ReadLabelledCSV(strings.NewReader(s), "label")
		if err == nil {
			if err := d.validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestIris(t *testing.T) {
	d, err := Iris()
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 150 || d.Features != 4 || d.Classes() != 3 {
		t.Fatalf("iris: %d × %d, %d classes", d.N, d.Features, d.Classes())
	}
	counts := map[float32]int{}
	for _, y := range d.Y {
		counts[y]++
	}
	if counts[0] != 50 || counts[1] != 50 || counts[2] != 50 {
		t.Errorf("class counts %v", counts)
	}
	if got := d.Row(0); got[0] != 5.1 || got[3] != 0.2 {
		t.Errorf("first row %v", got)
	}
}

func TestSplitIsSeededAndDisjoint(t *testing.T) {
	d, _ := Dots(Checkerboard, 101, 0.1, rand.New(rand.NewPCG(1, 1)))
	a1, b1, err := d.Split(0.2, rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	a2, b2, _ := d.Split(0.2, rand.New(rand.NewPCG(5, 5)))
	if a1.N != 81 || b1.N != 20 {
		t.Errorf("split sizes %d, %d", a1.N, b1.N)
	}
	if !slices.Equal(a1.X, a2.X) || !slices.Equal(b1.Y, b2.Y) {
		t.Error("same seed, different split")
	}
	seen := map[[2]float32]bool{}
	for i := 0; i < a1.N; i++ {
		seen[[2]float32{a1.X[2*i], a1.X[2*i+1]}] = true
	}
	for i := 0; i < b1.N; i++ {
		if seen[[2]float32{b1.X[2*i], b1.X[2*i+1]}] {
			t.Fatal("a sample is on both sides of the split")
		}
	}
	for _, frac := range []float64{0, 1, -0.5, 0.001} {
		if _, _, err := d.Split(frac, rand.New(rand.NewPCG(5, 5))); err == nil {
			t.Errorf("Split(%v) succeeded", frac)
		}
	}
}

func TestDots(t *testing.T) {
	for _, kind := range []string{TwoGaussians, FourGaussians, Checkerboard} {
		d, err := Dots(kind, 200, 0.1, rand.New(rand.NewPCG(2, 2)))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.validate(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Dots("spiral", 10, 0, rand.New(rand.NewPCG(2, 2))); err == nil {
		t.Error("unknown kind accepted")
	}
}

// fakeSource is a tiny IDX dataset served by a fake fetcher.
func fakeSource(t *testing.T) (*IDXSource, map[string][]byte) {
	files := map[string][]byte{
		"train-images-idx3-ubyte.gz": gz(idxBytes([]int{3, 2, 2}, []byte{0, 255, 0, 255, 1, 2, 3, 4, 5, 6, 7, 8})),
		"train-labels-idx1-ubyte.gz": gz(idxBytes([]int{3}, []byte{0, 1, 1})),
		"t10k-images-idx3-ubyte.gz":  gz(idxBytes([]int{1, 2, 2}, []byte{9, 9, 9, 9})),
		"t10k-labels-idx1-ubyte.gz":  gz(idxBytes([]int{1}, []byte{1})),
	}
	src := &IDXSource{Name: "tiny", BaseURLs: []string{"http://mirror.invalid/", "http://origin.invalid/"}, ClassNames: []string{"a", "b"}}
	for i, name := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		sum := md5.Sum(files[name])
		src.Files[i] = idxFile{name, hex.EncodeToString(sum[:])}
	}
	return src, files
}

func TestLoadDownloadsVerifiesAndCaches(t *testing.T) {
	src, files := fakeSource(t)
	cache := t.TempDir()
	var fetched []string
	o := Options{Dir: t.TempDir(), CacheDir: cache, Fetch: func(url string, w io.Writer, _ io.Writer) error {
		fetched = append(fetched, url)
		if strings.HasPrefix(url, "http://mirror.invalid/") {
			return errors.New("mirror down") // the next base URL must be tried
		}
		_, err := w.Write(files[strings.TrimPrefix(url, "http://origin.invalid/")])
		return err
	}}
	train, test, err := LoadIDX(src, o)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 3 || train.Features != 4 || test.N != 1 || train.X[1] != 1 || train.Y[2] != 1 {
		t.Errorf("train %+v test %+v", train, test)
	}
	if len(fetched) != 8 {
		t.Errorf("fetched %v", fetched)
	}
	// Cached now: a second load downloads nothing.
	fetched = nil
	if _, _, err := LoadIDX(src, o); err != nil || len(fetched) != 0 {
		t.Errorf("second load: err %v, fetched %v", err, fetched)
	}
}

func TestLoadRejectsCorruptDownloadAndLeavesNothing(t *testing.T) {
	src, files := fakeSource(t)
	cache := t.TempDir()
	o := Options{Dir: t.TempDir(), CacheDir: cache, Fetch: func(url string, w io.Writer, _ io.Writer) error {
		b := append([]byte{}, files[url[strings.LastIndex(url, "/")+1:]]...)
		b[len(b)-1] ^= 1 // one flipped bit
		_, err := w.Write(b)
		return err
	}}
	_, _, err := LoadIDX(src, o)
	if err == nil || !strings.Contains(err.Error(), "MD5") {
		t.Fatalf("error %v, want an MD5 mismatch", err)
	}
	left, _ := filepath.Glob(filepath.Join(cache, "tiny", "*"))
	if len(left) != 0 {
		t.Errorf("left in the cache: %v", left)
	}
}

func TestLoadOfflineSaysWhereItLooked(t *testing.T) {
	src, _ := fakeSource(t)
	dir := t.TempDir()
	_, _, err := LoadIDX(src, Options{Dir: dir, CacheDir: t.TempDir(), NoDownload: true})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "-data-dir") {
		t.Errorf("error %v, want the directories searched and how to supply the files", err)
	}
}

func TestLoadReadsUncompressedLocalFiles(t *testing.T) {
	src, files := fakeSource(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tiny"), 0o755)
	for name, b := range files {
		zr, _ := gzip.NewReader(bytes.NewReader(b))
		raw, _ := io.ReadAll(zr)
		os.WriteFile(filepath.Join(dir, "tiny", strings.TrimSuffix(name, ".gz")), raw, 0o644)
	}
	if _, _, err := LoadIDX(src, Options{Dir: dir, NoDownload: true, CacheDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
}

// TestRealDatasets loads every dataset present in $DIYNN_DATA and checks its
// shape and class balance. In CI the data must be there.
func TestRealDatasets(t *testing.T) {
	dir := testenv.DataDir(t)
	for _, name := range []string{"fashion-mnist", "mnist"} {
		train, test, err := Load(name, Options{Dir: dir, NoDownload: true, CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if train.N != 60000 || test.N != 10000 || train.Features != 784 {
			t.Errorf("%s: %d train, %d test, %d features", name, train.N, test.N, train.Features)
		}
		// The training images peak highest: 5 bytes for each of their
		// 60000×784 values. One byte less is refused before they are read.
		const need = 5 * 60000 * 784
		if _, _, err := Load(name, Options{Dir: dir, NoDownload: true, CacheDir: t.TempDir(), MaxBytes: need}); err != nil {
			t.Errorf("%s within a limit of %d bytes: %v", name, need, err)
		}
		_, _, err = Load(name, Options{Dir: dir, NoDownload: true, CacheDir: t.TempDir(), MaxBytes: need - 1})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "train-images") {
			t.Errorf("%s within a limit of %d bytes: error %v, want one wrapping ErrTooLarge about the training images", name, need-1, err)
		}
	}
}
