package nn_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

func mustDropout(t *testing.T, p float64, seed uint64) *nn.Dropout {
	t.Helper()
	d, err := nn.NewDropout(p, seed)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func data(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	v, err := x.Data()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Dropout in training mode, over 257×513 values: the fraction dropped is
// within 5 binomial standard deviations of p, every kept value is exactly
// x·float32(1/(1-p)) (one float32 product), the output's mean is within 5
// standard deviations of the input's (the variance of x·mask given x is
// x²·p/(1-p)), and Backward applies the same mask to gradOut.
func TestDropoutStatistics(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, cols = 257, 513
	for _, p := range []float64{0.1, 0.5, 0.9} {
		d := mustDropout(t, p, 42)
		x, _ := tensor.Uniform(b, rng, 0.5, 1.5, rows, cols) // never 0: a zero output means dropped
		y, err := d.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		xs, ys := data(t, x), data(t, y)
		scale := float32(1 / (1 - p))
		n := float64(len(xs))
		dropped := 0
		var sumX, sumY, varMean float64
		for i := range xs {
			sumX += float64(xs[i])
			sumY += float64(ys[i])
			varMean += float64(xs[i]) * float64(xs[i]) * p / (1 - p)
			switch ys[i] {
			case 0:
				dropped++
			case xs[i] * scale:
			default:
				t.Fatalf("p=%v: y[%d] = %v for x = %v, want 0 or exactly %v", p, i, ys[i], xs[i], xs[i]*scale)
			}
		}
		frac, sigma := float64(dropped)/n, math.Sqrt(p*(1-p)/n)
		if math.Abs(frac-p) > 5*sigma {
			t.Errorf("p=%v: dropped %.5f of the values, want within 5σ = %.5f of p", p, frac, 5*sigma)
		}
		if dm, sm := math.Abs(sumY-sumX)/n, 5*math.Sqrt(varMean)/n; dm > sm {
			t.Errorf("p=%v: output mean %.5f, input mean %.5f: differ by %.2g, more than 5σ = %.2g", p, sumY/n, sumX/n, dm, sm)
		}

		g, _ := tensor.Uniform(b, rng, -1, 1, rows, cols)
		dx, err := d.Backward(x, g)
		if err != nil {
			t.Fatal(err)
		}
		gs, dxs := data(t, g), data(t, dx)
		for i := range gs {
			want := gs[i] * scale
			if ys[i] == 0 {
				want = 0
			}
			if dxs[i] != want {
				t.Fatalf("p=%v: gradient[%d] = %v, want %v: Backward's mask is not Forward's", p, i, dxs[i], want)
			}
		}
	}
}

// The mask stream: a Forward draws the Bernoulli values at the stream's
// offset, the next Forward continues at the offset rounded up to a whole
// Philox block, Reseed(s) restarts at offset 0 with key MixSeed(seed, s),
// and Sequential gives module i MixSeed(s, i), so that two Dropout layers
// built with the same seed draw different masks.
func TestDropoutStream(t *testing.T) {
	b := cpu.New()
	const seed, rows, cols = 9, 5, 7 // 35 values: the second draw starts at 36
	ones, _ := tensor.FromSlice(b, onesOf(rows*cols), rows, cols)
	mask := func(key, offset uint64) []float32 {
		m, _ := tensor.New(b, rows, cols)
		b.Random(backend.Bernoulli, rows*cols, key, offset, float32(0.5), float32(2), m.Buffer())
		return data(t, m)
	}
	d := mustDropout(t, 0.5, seed)
	d.Reseed(3)
	key := nn.MixSeed(seed, 3)
	for _, offset := range []uint64{0, 36, 72} {
		y, err := d.Forward(ones)
		if err != nil {
			t.Fatal(err)
		}
		if !equal(data(t, y), mask(key, offset)) {
			t.Fatalf("Forward after Reseed(3) does not draw the mask of key MixSeed(%d, 3) at offset %d", seed, offset)
		}
	}
	d.Reseed(3)
	y, _ := d.Forward(ones)
	if !equal(data(t, y), mask(key, 0)) {
		t.Fatal("Reseed with the same seed does not restart the same mask")
	}

	d1, d2 := mustDropout(t, 0.5, seed), mustDropout(t, 0.5, seed)
	nn.Reseed(nn.NewSequential(d1, d2), 3)
	y1, _ := d1.Forward(ones)
	m1 := data(t, y1)
	y2, _ := d2.Forward(ones)
	m2 := data(t, y2)
	if equal(m1, m2) {
		t.Fatal("two Dropout layers of a Sequential, same seed, draw the same mask after Reseed")
	}
	if !equal(m1, mask(nn.MixSeed(seed, nn.MixSeed(3, 0)), 0)) || !equal(m2, mask(nn.MixSeed(seed, nn.MixSeed(3, 1)), 0)) {
		t.Fatal("Sequential.Reseed(s) does not reseed module i with MixSeed(s, i)")
	}
}

func onesOf(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// In evaluation mode, and for p = 0 or σ = 0, Dropout and GaussianNoise
// are the identity: Forward returns x itself, Backward gradOut itself, and
// the stream does not move.
func TestDropoutAndNoiseEvalIdentity(t *testing.T) {
	b := cpu.New()
	x, _ := tensor.Uniform(b, rand.New(rand.NewPCG(1, 1)), -1, 1, 3, 7)
	g, _ := tensor.Uniform(b, rand.New(rand.NewPCG(2, 1)), -1, 1, 3, 7)
	noise, _ := nn.NewGaussianNoise(0.5, 1)
	zeroNoise, _ := nn.NewGaussianNoise(0, 1)
	evalDrop, evalNoise := mustDropout(t, 0.5, 1), noise
	net := nn.NewSequential(evalDrop, evalNoise)
	nn.SetTraining(net, false)
	for _, m := range []nn.Module{evalDrop, evalNoise, mustDropout(t, 0, 1), zeroNoise, net} {
		y, err := m.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		if y != x {
			t.Errorf("%v: Forward in evaluation mode (or p = σ = 0) is not the identity", m)
		}
		dx, err := m.Backward(x, g)
		if err != nil {
			t.Fatal(err)
		}
		if dx != g {
			t.Errorf("%v: Backward in evaluation mode is not the identity", m)
		}
	}
	// Back in training mode, the layers act again.
	nn.SetTraining(net, true)
	y, _ := evalDrop.Forward(x)
	if y == x {
		t.Error("Dropout after SetTraining(true) is still the identity")
	}
}

// GaussianNoise over 257×513 values: the noise y - x has mean within 5
// standard errors (σ/√n) of 0 and a standard deviation within 5 standard
// errors (σ/√(2n)) of σ; its gradient is gradOut.
func TestGaussianNoiseStatistics(t *testing.T) {
	b := cpu.New()
	const rows, cols, sigma = 257, 513, 0.3
	g, err := nn.NewGaussianNoise(sigma, 7)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := tensor.Uniform(b, rand.New(rand.NewPCG(1, 1)), -1, 1, rows, cols)
	y, err := g.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	xs, ys := data(t, x), data(t, y)
	n := float64(len(xs))
	var sum, sq float64
	for i := range xs {
		z := float64(ys[i]) - float64(xs[i])
		sum += z
		sq += z * z
	}
	mean := sum / n
	std := math.Sqrt(sq/n - mean*mean)
	if lim := 5 * sigma / math.Sqrt(n); math.Abs(mean) > lim {
		t.Errorf("noise mean %.3g, want within 5σ/√n = %.3g of 0", mean, lim)
	}
	if lim := 5 * sigma / math.Sqrt(2*n); math.Abs(std-sigma) > lim {
		t.Errorf("noise standard deviation %.5f, want within %.5f of %v", std, lim, sigma)
	}
	gOut, _ := tensor.Uniform(b, rand.New(rand.NewPCG(2, 2)), -1, 1, rows, cols)
	if dx, err := g.Backward(x, gOut); err != nil || dx != gOut {
		t.Errorf("GaussianNoise's Backward = %v, %v; want gradOut itself", dx, err)
	}
	// The next Forward draws fresh noise.
	y2, _ := g.Forward(x)
	if equal(data(t, y2), ys) {
		t.Error("two training Forward passes drew the same noise")
	}
}

func TestDropoutAndNoiseRefuseBadParameters(t *testing.T) {
	for _, p := range []float64{-0.1, 1, 1.5, math.NaN()} {
		if _, err := nn.NewDropout(p, 1); err == nil {
			t.Errorf("NewDropout(%v) accepted", p)
		}
	}
	for _, s := range []float64{-1, math.Inf(1), math.NaN()} {
		if _, err := nn.NewGaussianNoise(s, 1); err == nil {
			t.Errorf("NewGaussianNoise(%v) accepted", s)
		}
	}
}

// Backward uses what the latest Forward did, whatever the mode is now: a
// training Forward, a switch to evaluation, then Backward applies the
// training mask; an evaluation Forward, a switch to training, then
// Backward is the identity. Backward before any Forward is an error, and
// an evaluation Forward does not move the stream: the next training
// Forward draws what it would have drawn.
func TestDropoutAndNoiseModeSwitches(t *testing.T) {
	b := cpu.New()
	const rows, cols = 3, 7
	x, _ := tensor.Uniform(b, rand.New(rand.NewPCG(1, 1)), 0.5, 1.5, rows, cols)
	g, _ := tensor.Uniform(b, rand.New(rand.NewPCG(2, 1)), -1, 1, rows, cols)
	noise, _ := nn.NewGaussianNoise(0.5, 1)
	for _, m := range []nn.Module{mustDropout(t, 0.5, 1), noise} {
		if _, err := m.Backward(x, g); err == nil || !strings.Contains(err.Error(), "before Forward") {
			t.Errorf("%v: Backward before Forward: %v, want an error", m, err)
		}
	}

	d := mustDropout(t, 0.5, 1)
	y, _ := d.Forward(x)
	ys := data(t, y)
	nn.SetTraining(d, false)
	dx, err := d.Backward(x, g)
	if err != nil {
		t.Fatal(err)
	}
	gs, dxs := data(t, g), data(t, dx)
	for i := range gs {
		want := gs[i] * 2
		if ys[i] == 0 {
			want = 0
		}
		if dxs[i] != want {
			t.Fatalf("Dropout: training Forward, SetTraining(false), Backward: gradient[%d] = %v, want %v (the training mask)", i, dxs[i], want)
		}
	}
	if y, _ := d.Forward(x); y != x {
		t.Fatal("Dropout in evaluation mode is not the identity")
	}
	nn.SetTraining(d, true)
	if dx, err := d.Backward(x, g); err != nil || dx != g {
		t.Fatalf("Dropout: evaluation Forward, SetTraining(true), Backward = %v, %v; want gradOut itself", dx, err)
	}
	// The evaluation Forward did not move the stream: this Forward draws
	// the mask at offset 24 (after 21 values, rounded up to whole blocks).
	y2, _ := d.Forward(x)
	m, _ := tensor.New(b, rows, cols)
	b.Random(backend.Bernoulli, rows*cols, 1, 24, 0.5, 2, m.Buffer())
	xs, ms, y2s := data(t, x), data(t, m), data(t, y2)
	for i := range xs {
		if y2s[i] != xs[i]*ms[i] {
			t.Fatalf("Dropout after an evaluation Forward: y[%d] = %v, want %v: the stream moved", i, y2s[i], xs[i]*ms[i])
		}
	}
}

// A batch of another size, smaller then larger, gets a mask of its own
// size each time, and Backward checks gradOut against the latest Forward.
func TestDropoutBatchSizeChanges(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(3, 3))
	d := mustDropout(t, 0.5, 4)
	for _, rows := range []int{8, 3, 33} {
		x, _ := tensor.Uniform(b, rng, 0.5, 1.5, rows, 5)
		y, err := d.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(y.Shape(), x.Shape()) {
			t.Fatalf("rows %d: output shape %v, want %v", rows, y.Shape(), x.Shape())
		}
		xs, ys := data(t, x), data(t, y)
		for i := range xs {
			if ys[i] != 0 && ys[i] != xs[i]*2 {
				t.Fatalf("rows %d: y[%d] = %v for x = %v", rows, i, ys[i], xs[i])
			}
		}
		g, _ := tensor.Uniform(b, rng, -1, 1, rows, 5)
		if _, err := d.Backward(x, g); err != nil {
			t.Fatalf("rows %d: %v", rows, err)
		}
		wrong, _ := tensor.Uniform(b, rng, -1, 1, rows+1, 5)
		if _, err := d.Backward(x, wrong); err == nil {
			t.Errorf("rows %d: Backward accepted a gradient of %v", rows, wrong.Shape())
		}
	}
}

// p close to 1 keeps about 1-p of the values, each scaled by 1/(1-p).
func TestDropoutNearOne(t *testing.T) {
	b := cpu.New()
	const p, n = 0.999, 200000
	d := mustDropout(t, p, 5)
	x, _ := tensor.FromSlice(b, onesOf(n), n, 1)
	y, err := d.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for i, v := range data(t, y) {
		switch v {
		case 0:
		case float32(1 / (1 - p)):
			kept++
		default:
			t.Fatalf("y[%d] = %v, want 0 or %v", i, v, float32(1/(1-p)))
		}
	}
	// Binomial(n, 0.001): mean 200, standard deviation ≈ 14.1; 5σ.
	if mean, sd := n*(1-p), math.Sqrt(n*p*(1-p)); math.Abs(float64(kept)-mean) > 5*sd {
		t.Errorf("kept %d of %d, want %.0f ± %.0f", kept, n, mean, 5*sd)
	}
}
