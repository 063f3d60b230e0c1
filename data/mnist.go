package data

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/diynn/diynn/internal/bytesize"
)

// idxFile is one file of an IDX dataset with its published MD5.
type idxFile struct{ name, md5 string }

// IDXSource describes an MNIST-like dataset: where to download it and the
// checksums of its four files.
type IDXSource struct {
	Name       string
	BaseURLs   []string // tried in order
	Files      [4]idxFile
	ClassNames []string
}

// The four files of an IDX dataset, in IDXSource.Files order.
const (
	trainImages = iota
	trainLabels
	testImages
	testLabels
)

// Sources lists the image datasets by name.
var Sources = map[string]*IDXSource{
	"fashion-mnist": {
		Name:     "fashion-mnist",
		BaseURLs: []string{"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"},
		Files: [4]idxFile{
			{"train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
			{"train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"},
			{"t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"},
			{"t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"},
		},
		ClassNames: []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
	},
	"kmnist": {
		Name:     "kmnist",
		BaseURLs: []string{"http://codh.rois.ac.jp/kmnist/dataset/kmnist/"},
		Files: [4]idxFile{
			{"train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"},
			{"train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"},
			{"t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"},
			{"t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"},
		},
		ClassNames: []string{"o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"},
	},
	"mnist": {
		Name:     "mnist",
		BaseURLs: []string{"https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"},
		Files: [4]idxFile{
			{"train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"},
			{"train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"},
			{"t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"},
			{"t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"},
		},
		ClassNames: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
	},
}

// Options say where to look for dataset files.
type Options struct {
	// Dir is an explicit directory holding the files, or holding NAME/
	// with the files. Empty: use $DIYNN_DATA.
	Dir string
	// CacheDir is where downloads go. Empty: the user cache directory
	// (os.UserCacheDir()/diynn).
	CacheDir string
	// NoDownload fails instead of downloading missing files.
	NoDownload bool
	// Progress receives download progress; nil is silent.
	Progress io.Writer
	// TestOnly loads only the test split (train is nil): for Kuzushiji-MNIST
	// where its training images are missing.
	TestOnly bool
	// Fetch downloads url to w; nil uses HTTP (tests replace it).
	Fetch func(url string, w io.Writer, progress io.Writer) error
	// MaxBytes bounds the host memory an image dataset takes while it
	// loads, in bytes; 0 is no limit beyond the readers' own. Each value of
	// an IDX file costs 5 bytes while its file is read (the byte, and the
	// float32 of X or Y) and 4 once it is converted; LoadIDX refuses, before
	// allocating it, a file that would take the total past MaxBytes, with
	// an error wrapping ErrTooLarge.
	MaxBytes int64
}

// dirs lists the directories searched for a dataset's files, in order.
func (o Options) dirs(name string) []string {
	var ds []string
	add := func(dir string) {
		if dir != "" {
			ds = append(ds, filepath.Join(dir, name), dir)
		}
	}
	add(o.Dir)
	if o.Dir == "" {
		add(os.Getenv("DIYNN_DATA"))
	}
	if c := o.cacheDir(); c != "" {
		ds = append(ds, filepath.Join(c, name))
	}
	return ds
}

func (o Options) cacheDir() string {
	if o.CacheDir != "" {
		return o.CacheDir
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(c, "diynn")
}

// ErrTooLarge is wrapped by the error of a dataset whose files need more
// memory than Options.MaxBytes allows.
var ErrTooLarge = errors.New("dataset too large for the memory limit")

// bytesPerValue is what loading an IDX value costs at its peak: the byte
// read from the file, and the float32 it becomes in X or Y. The byte is
// dropped once its file is converted, before the next file is read, so the
// dataset keeps 4 bytes a value (keptPerValue).
const (
	bytesPerValue = 5
	keptPerValue  = 4
)

// LoadIDX loads an image dataset's training and test splits, with pixels
// scaled to [0, 1]. It finds (or downloads) all the files it needs first,
// then reads them one at a time, each converted to float32 and its raw
// bytes dropped before the next is read. Before it allocates a file's data
// it refuses images that are not at least N×pixels, labels that are not one
// per image, test images of another shape than the training ones, and a
// file whose values would take the dataset past o.MaxBytes (5 bytes a
// value while the file is read, 4 kept), the last with an error wrapping
// ErrTooLarge.
func LoadIDX(src *IDXSource, o Options) (train, test *Dataset, err error) {
	if o.MaxBytes < 0 {
		return nil, nil, fmt.Errorf("%s: memory limit of %d bytes: want 0 (no limit) or a positive byte count", src.Name, o.MaxBytes)
	}
	var paths [4]string
	for i, f := range src.Files {
		if o.TestOnly && (i == trainImages || i == trainLabels) {
			continue
		}
		if paths[i], err = o.find(src, f); err != nil {
			return nil, nil, err
		}
	}
	l := &idxLoader{src: src, limit: o.MaxBytes}
	if !o.TestOnly {
		if train, err = l.split("training", paths[trainImages], paths[trainLabels]); err != nil {
			return nil, nil, err
		}
	}
	if test, err = l.split("test", paths[testImages], paths[testLabels]); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// testHookBeforeLabels, when set, runs before a split's labels are read.
var testHookBeforeLabels func()

// idxLoader reads the files of one dataset within a memory limit.
type idxLoader struct {
	src   *IDXSource
	limit int64 // bytes; 0 for none
	used  int64 // bytes kept by the files read so far
	// The first split's images, which the other's must match.
	firstPath, firstSplit string
	firstDims             []int
}

// read reads one file after check, and after checking that its values fit
// in what is left of the limit; what names the file's content in messages.
func (l *idxLoader) read(path, what string, check func(dims []int) error) (*IDX, error) {
	var upFront int64
	if l.limit > 0 {
		upFront = l.limit - l.used
	}
	return readIDXFile(path, func(dims []int, total int) error {
		if err := check(dims); err != nil {
			return err
		}
		need := bytesPerValue * int64(total)
		if l.limit <= 0 || need <= l.limit-l.used {
			return nil
		}
		limit := fmt.Sprintf("the memory limit of %s (%d bytes)", bytesize.Format(l.limit), l.limit)
		if l.used > 0 {
			left := l.limit - l.used
			limit = fmt.Sprintf("the %s (%d bytes) left of %s after the files already read", bytesize.Format(left), left, limit)
		}
		return fmt.Errorf("%s %s: IDX dimensions %v (%d values) need %s (%d bytes: 1 a value as read, 4 as float32) to load, more than %s: %w",
			l.src.Name, what, dims, total, bytesize.Format(need), need, limit, ErrTooLarge)
	}, upFront)
}

// split reads one split's images and labels.
func (l *idxLoader) split(split, imagesPath, labelsPath string) (*Dataset, error) {
	name := l.src.Name
	// The labels' header first: an images file that claims another count
	// is refused before its data is allocated.
	var labelDims []int
	headerOnly := errors.New("header only")
	if _, err := readIDXFile(labelsPath, func(dims []int, _ int) error { labelDims = dims; return headerOnly }, 0); !errors.Is(err, headerOnly) {
		return nil, err
	}
	images, err := l.read(imagesPath, split+" images", func(dims []int) error {
		if len(dims) < 2 {
			return fmt.Errorf("%s %s images have shape %v: images need at least 2 dimensions (N×pixels…)", name, split, dims)
		}
		if len(labelDims) == 1 && labelDims[0] != dims[0] {
			return fmt.Errorf("%s %s images: %d of them (shape %v), but %s holds %d labels", name, split, dims[0], dims, labelsPath, labelDims[0])
		}
		if l.firstDims != nil && !slices.Equal(dims[1:], l.firstDims[1:]) {
			return fmt.Errorf("%s %s images are %s (shape %v), but the %s images %s are %s (shape %v): both splits need the same image shape",
				name, split, imageShape(dims), dims, l.firstSplit, l.firstPath, imageShape(l.firstDims), l.firstDims)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if l.firstDims == nil {
		l.firstPath, l.firstSplit, l.firstDims = imagesPath, split, images.Dims
	}
	imageDims := images.Dims
	n := imageDims[0]
	d := &Dataset{Name: name, N: n, Features: len(images.Data) / n, Shape: sampleShape(imageDims), ClassNames: l.src.ClassNames,
		X: toFloat32(images.Data, 255)}
	// images is not used again: its bytes may go before the labels are read.
	l.used += keptPerValue * int64(len(d.X))
	if testHookBeforeLabels != nil {
		testHookBeforeLabels()
	}
	labels, err := l.read(labelsPath, split+" labels", func(dims []int) error {
		if len(dims) != 1 || dims[0] != n {
			return fmt.Errorf("%s %s labels have shape %v, want [%d]: one label for each image of %s (shape %v)",
				name, split, dims, n, imagesPath, imageDims)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.Y = toFloat32(labels.Data, 1)
	l.used += keptPerValue * int64(len(d.Y))
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("%s: %s split: %w", labelsPath, split, err)
	}
	return d, nil
}

// imageShape writes an image's dimensions, without the sample count, as
// 28×28.
func imageShape(dims []int) string {
	parts := make([]string, len(dims)-1)
	for i, d := range dims[1:] {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, "×")
}

// sampleShape is the shape of one image of an IDX file of dimensions dims
// (N first): (1, H, W) for N×H×W grey images, whose channel the file leaves
// out, and the dimensions after N otherwise (N×F rows, N×C×H×W images).
func sampleShape(dims []int) []int {
	if len(dims) == 3 {
		return []int{1, dims[1], dims[2]}
	}
	return append([]int(nil), dims[1:]...)
}

// toFloat32 converts bytes to float32, each divided by div.
func toFloat32(b []byte, div float32) []float32 {
	x := make([]float32, len(b))
	for i, v := range b {
		x[i] = float32(v) / div
	}
	return x
}

// Load loads a dataset by name: an image dataset of Sources, "iris" (test
// split: none, use Dataset.Split) or "dots".
func Load(name string, o Options) (train, test *Dataset, err error) {
	if src, ok := Sources[name]; ok {
		return LoadIDX(src, o)
	}
	switch name {
	case "iris":
		d, err := Iris()
		return d, nil, err
	}
	names := make([]string, 0, len(Sources)+1)
	for n := range Sources {
		names = append(names, n)
	}
	return nil, nil, fmt.Errorf("unknown dataset %q (known: %s, iris, dots)", name, strings.Join(sortedStrings(names), ", "))
}
