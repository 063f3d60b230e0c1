package data

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Every loader gives the shape of one sample, whose volume is Features,
// and Subset and Split keep it.
func TestSampleShapes(t *testing.T) {
	src, dir := writeIDXDataset(t, nil)
	train, test, err := LoadIDX(src, Options{Dir: dir, NoDownload: true, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	iris, err := Iris()
	if err != nil {
		t.Fatal(err)
	}
	csv, err := ReadLabelledCSV(strings.NewReader("a,b,c,label\n1,2,3,x\n4,5,6,y\n"), "label")
	if err != nil {
		t.Fatal(err)
	}
	dots, err := Dots(Checkerboard, 10, 0.1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		d    *Dataset
		want []int
	}{
		{"idx training", train, []int{1, 2, 2}}, // N×H×W grey images gain their channel
		{"idx test", test, []int{1, 2, 2}},
		{"iris", iris, []int{4}},
		{"csv", csv, []int{3}},
		{"dots", dots, []int{2}},
	} {
		if !slices.Equal(c.d.Shape, c.want) || !slices.Equal(c.d.SampleShape(), c.want) {
			t.Errorf("%s: shape %v (SampleShape %v), want %v", c.name, c.d.Shape, c.d.SampleShape(), c.want)
		}
		if err := c.d.validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		sub := c.d.Subset([]int{0})
		sides := map[string]*Dataset{"Subset": sub}
		if c.d.N > 1 {
			keep, held, err := c.d.Split(0.5, rand.New(rand.NewPCG(2, 2)))
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			sides["Split's first side"], sides["Split's held-out side"] = keep, held
		}
		for what, s := range sides {
			if !slices.Equal(s.Shape, c.want) {
				t.Errorf("%s: %s has shape %v, want %v", c.name, what, s.Shape, c.want)
			}
		}
		// The subset's shape is its own: changing it leaves the original.
		if len(sub.Shape) == 0 {
			continue // reported above
		}
		sub.Shape[0] = 99
		if c.d.Shape[0] == 99 {
			t.Errorf("%s: Subset shares its shape with the original", c.name)
		}
	}
}

func TestSampleShapeOfIDXDims(t *testing.T) {
	for _, c := range []struct{ dims, want []int }{
		{[]int{60000, 28, 28}, []int{1, 28, 28}},
		{[]int{5, 784}, []int{784}},
		{[]int{5, 3, 32, 32}, []int{3, 32, 32}},
	} {
		if got := sampleShape(c.dims); !slices.Equal(got, c.want) {
			t.Errorf("sampleShape(%v) = %v, want %v", c.dims, got, c.want)
		}
	}
}

// A hand-built dataset without a shape reads as rows; one whose shape does
// not hold its features is inconsistent.
func TestSampleShapeChecks(t *testing.T) {
	d := &Dataset{Name: "rows", N: 2, Features: 3, X: make([]float32, 6), Y: []float32{0, 1}, ClassNames: []string{"a", "b"}}
	if got := d.SampleShape(); !slices.Equal(got, []int{3}) {
		t.Errorf("SampleShape of a shapeless dataset = %v, want [3]", got)
	}
	if err := d.validate(); err != nil {
		t.Error(err)
	}
	d.Shape = []int{1, 2, 2} // left behind by code that changed X and Features
	if got := d.SampleShape(); !slices.Equal(got, []int{3}) {
		t.Errorf("SampleShape with a stale shape = %v, want [3]", got)
	}
	for _, bad := range [][]int{{2}, {1, 2, 2}, {3, 0}, {-1, -3}, {1 << 40, 1 << 40, 3}} {
		d.Shape = bad
		if err := d.validate(); err == nil || !strings.Contains(err.Error(), "does not hold its 3 features") {
			t.Errorf("shape %v: %v", bad, err)
		}
	}
}
