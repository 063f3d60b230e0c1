// Package data loads the datasets diynn trains on — Fashion-MNIST,
// Kuzushiji-MNIST, MNIST, Iris and synthetic 2-D "dots" — and splits them.
//
// Image datasets resolve in this order: an explicit directory, then
// $DIYNN_DATA/NAME, then the user cache directory, then a download from the
// official address, checked against the published MD5 and renamed into the
// cache only when complete. Iris is embedded.
package data

import (
	"fmt"
	"math/rand/v2"
)

// Dataset is a labelled set of samples in host memory: row i of X (Features
// wide) has class Y[i], stored as float32 as the backends expect.
//
// Shape is the shape of one sample, row-major over its Features values:
// (1, 28, 28) for the IDX image datasets (one channel of 28×28 pixels), (F)
// for tables. Models that care about the layout (convolutions) plan from it
// with model.NewPlanFor; a Dataset built by hand may leave it nil, which
// SampleShape reads as (Features).
type Dataset struct {
	Name       string
	X          []float32
	Y          []float32
	N          int
	Features   int
	Shape      []int
	ClassNames []string
}

// SampleShape is the shape of one sample: Shape, or (Features) when Shape
// is not set or does not hold Features values (code that replaces X and
// Features, such as features computed by an encoder, may leave an image
// shape behind). The result is a copy the caller may keep.
func (d *Dataset) SampleShape() []int {
	n := 1
	for _, s := range d.Shape {
		n *= s
	}
	if len(d.Shape) == 0 || n != d.Features {
		return []int{d.Features}
	}
	return append([]int(nil), d.Shape...)
}

// Classes is the number of classes.
func (d *Dataset) Classes() int { return len(d.ClassNames) }

// Row returns the features of sample i.
func (d *Dataset) Row(i int) []float32 { return d.X[i*d.Features : (i+1)*d.Features] }

// Subset returns the samples at the given indices, copied.
func (d *Dataset) Subset(idx []int) *Dataset {
	s := &Dataset{Name: d.Name, N: len(idx), Features: d.Features, Shape: append([]int(nil), d.Shape...), ClassNames: d.ClassNames,
		X: make([]float32, 0, len(idx)*d.Features), Y: make([]float32, len(idx))}
	for j, i := range idx {
		s.X = append(s.X, d.Row(i)...)
		s.Y[j] = d.Y[i]
	}
	return s
}

// Split shuffles the samples with rng and returns the first (1-frac) of them
// and the last frac: Split(0.2, rng) holds out 20% for validation.
func (d *Dataset) Split(frac float64, rng *rand.Rand) (keep, held *Dataset, err error) {
	if !(frac > 0 && frac < 1) {
		return nil, nil, fmt.Errorf("split fraction %v: want a value between 0 and 1", frac)
	}
	nHeld := int(float64(d.N)*frac + 0.5)
	if nHeld == 0 || nHeld == d.N {
		return nil, nil, fmt.Errorf("split fraction %v of %d samples leaves an empty side", frac, d.N)
	}
	perm := rng.Perm(d.N)
	return d.Subset(perm[:d.N-nHeld]), d.Subset(perm[d.N-nHeld:]), nil
}

// validate checks that a dataset is consistent.
func (d *Dataset) validate() error {
	if d.N <= 0 || d.Features <= 0 || len(d.X) != d.N*d.Features || len(d.Y) != d.N {
		return fmt.Errorf("%s: inconsistent dataset: %d samples of %d features, %d values, %d labels",
			d.Name, d.N, d.Features, len(d.X), len(d.Y))
	}
	if d.Shape != nil {
		v := 1
		for _, n := range d.Shape {
			if n <= 0 || v > d.Features {
				v = -1
				break
			}
			v *= n
		}
		if v != d.Features {
			return fmt.Errorf("%s: inconsistent dataset: sample shape %v does not hold its %d features", d.Name, d.Shape, d.Features)
		}
	}
	for i, y := range d.Y {
		if c := int(y); float32(c) != y || c < 0 || c >= len(d.ClassNames) {
			return fmt.Errorf("%s: label %v of sample %d is not one of %d classes", d.Name, y, i, len(d.ClassNames))
		}
	}
	return nil
}
