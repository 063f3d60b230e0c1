package data

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// LoadIDX loads an image dataset's training and test splits, with pixels
// scaled to [0, 1].
func LoadIDX(src *IDXSource, o Options) (train, test *Dataset, err error) {
	var arrays [4]*IDX
	for i, f := range src.Files {
		if o.TestOnly && (i == trainImages || i == trainLabels) {
			continue
		}
		path, err := o.find(src, f)
		if err != nil {
			return nil, nil, err
		}
		if arrays[i], err = ReadIDXFile(path); err != nil {
			return nil, nil, err
		}
	}
	if !o.TestOnly {
		if train, err = imagesAndLabels(src, arrays[trainImages], arrays[trainLabels], "training"); err != nil {
			return nil, nil, err
		}
	}
	if test, err = imagesAndLabels(src, arrays[testImages], arrays[testLabels], "test"); err != nil {
		return nil, nil, err
	}
	return train, test, nil
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

func imagesAndLabels(src *IDXSource, images, labels *IDX, split string) (*Dataset, error) {
	if len(images.Dims) < 2 || len(labels.Dims) != 1 || images.Dims[0] != labels.Dims[0] {
		return nil, fmt.Errorf("%s %s split: images of shape %v do not match labels of shape %v",
			src.Name, split, images.Dims, labels.Dims)
	}
	d := &Dataset{Name: src.Name, N: images.Dims[0], Features: len(images.Data) / images.Dims[0],
		ClassNames: src.ClassNames, X: make([]float32, len(images.Data)), Y: make([]float32, len(labels.Data))}
	for i, b := range images.Data {
		d.X[i] = float32(b) / 255
	}
	for i, b := range labels.Data {
		d.Y[i] = float32(b)
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("%s split: %w", split, err)
	}
	return d, nil
}
