package figures

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func decode(t *testing.T, path string) (w, h int) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

func TestCurvesAndConfusionWritePNGs(t *testing.T) {
	dir := t.TempDir()
	curves := filepath.Join(dir, "curves.png")
	err := Curves(curves, "test", []Series{{"train", []float64{1, 0.5, 0.3}}, {"test", []float64{1.1, 0.6, 0.4}}},
		[]Series{{"train", []float64{math.NaN(), 0.8, 0.9}}, {"test", []float64{0.5, 0.7, 0.85}}})
	if err != nil {
		t.Fatal(err)
	}
	if w, h := decode(t, curves); w < 500 || h < 200 {
		t.Errorf("curves.png is %d×%d", w, h)
	}
	conf := filepath.Join(dir, "confusion.png")
	if err := Confusion(conf, "test", [][]int{{5, 1, 0}, {2, 7, 1}, {0, 0, 9}}, []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	if w, h := decode(t, conf); w != h || w < 200 {
		t.Errorf("confusion.png is %d×%d", w, h)
	}
	if err := Confusion(conf, "bad", [][]int{{1}}, []string{"a", "b"}); err == nil {
		t.Error("a 1×1 matrix for 2 classes was accepted")
	}
}

func TestReconstructionGrid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recon.png")
	img := make([]float32, 28*28)
	for i := range img {
		img[i] = float32(i%28) / 27
	}
	if err := ReconstructionGrid(path, [][]float32{img, img}, [][]float32{img, img}, []string{"T-shirt/top", "Trouser"}, 28, 28, 2); err != nil {
		t.Fatal(err)
	}
	if w, h := decode(t, path); w < 2*56 || h < 2*56 {
		t.Errorf("recon.png is %d×%d", w, h)
	}
	if err := ReconstructionGrid(path, [][]float32{img}, nil, nil, 28, 28, 2); err == nil {
		t.Error("mismatched inputs accepted")
	}
}

func TestScatter(t *testing.T) {
	dir := t.TempDir()
	y2 := []float64{0, 0, 1, 1, 2, 0, 3, 1}
	y3 := []float64{0, 0, 0, 1, 1, 1, 2, 0, 1, 3, 1, 0}
	labels := []int{0, 1, 1, 0}
	if err := Scatter(filepath.Join(dir, "a.png"), "2-D", y2, 2, labels, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if err := Scatter(filepath.Join(dir, "b.png"), "3-D", y3, 3, labels, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if w, h := decode(t, filepath.Join(dir, "b.png")); w <= h {
		t.Errorf("3-D scatter is %d×%d, want two views side by side", w, h)
	}
	if err := Scatter(filepath.Join(dir, "c.png"), "bad", y2, 2, []int{0, 5, 1, 0}, []string{"a", "b"}); err == nil {
		t.Error("a label out of range was accepted")
	}
}
