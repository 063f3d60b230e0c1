package data

import (
	"fmt"
	"math/rand/v2"
)

// Dots kinds: synthetic 2-D classification problems.
const (
	TwoGaussians  = "two-gaussians"  // two classes, blobs at (±1, 0)
	FourGaussians = "four-gaussians" // four classes, blobs at (±1, ±1)
	Checkerboard  = "checkerboard"   // two classes: the sign of x·y (XOR)
)

// Dots returns n points of a synthetic 2-D problem, with Gaussian noise of
// standard deviation noise added to each coordinate, drawn from rng.
func Dots(kind string, n int, noise float64, rng *rand.Rand) (*Dataset, error) {
	if n <= 0 {
		return nil, fmt.Errorf("dots: %d points: want at least 1", n)
	}
	d := &Dataset{Name: "dots-" + kind, N: n, Features: 2, Shape: []int{2}, X: make([]float32, 2*n), Y: make([]float32, n)}
	for i := 0; i < n; i++ {
		var x, y float64
		var c int
		switch kind {
		case TwoGaussians:
			c = rng.IntN(2)
			x, y = float64(2*c-1), 0
		case FourGaussians:
			c = rng.IntN(4)
			x, y = float64(2*(c&1)-1), float64(2*(c>>1)-1)
		case Checkerboard:
			x, y = rng.Float64()*2-1, rng.Float64()*2-1
			if x*y > 0 {
				c = 1
			}
		default:
			return nil, fmt.Errorf("dots: unknown kind %q (want %s, %s or %s)", kind, TwoGaussians, FourGaussians, Checkerboard)
		}
		d.X[2*i] = float32(x + noise*rng.NormFloat64())
		d.X[2*i+1] = float32(y + noise*rng.NormFloat64())
		d.Y[i] = float32(c)
	}
	switch kind {
	case FourGaussians:
		d.ClassNames = []string{"(-1,-1)", "(+1,-1)", "(-1,+1)", "(+1,+1)"}
	case TwoGaussians:
		d.ClassNames = []string{"left", "right"}
	default:
		d.ClassNames = []string{"x·y<0", "x·y>0"}
	}
	return d, nil
}
