package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/diynn/diynn/backend"
)

// This file is the suite's own Philox 4×32-10 and its reading of
// backend.Distribution, written from the specification (Salmon et al.,
// SC'11, and Random123's philox.h conventions) independently of every
// backend: 64-bit products instead of a mul-hi, a precomputed key
// schedule, one block per call. It is checked against Random123's published
// known-answer vectors before any backend is compared with it.

// philoxKAT are the philox4x32 10-round lines of Random123's
// tests/kat_vectors (github.com/DEShawResearch/random123): counter, key,
// expected output.
var philoxKAT = []struct {
	ctr [4]uint32
	key [2]uint32
	out [4]uint32
}{
	{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
	{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
		[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
	{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
		[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
}

// refPhilox is philox4x32_10(ctr, key).
func refPhilox(ctr [4]uint32, key [2]uint32) [4]uint32 {
	var ks [10][2]uint32
	for r := range ks {
		ks[r] = [2]uint32{key[0] + uint32(r)*0x9E3779B9, key[1] + uint32(r)*0xBB67AE85}
	}
	x0, x1, x2, x3 := ctr[0], ctr[1], ctr[2], ctr[3]
	for r := 0; r < 10; r++ {
		p0 := uint64(0xD2511F53) * uint64(x0)
		p1 := uint64(0xCD9E8D57) * uint64(x2)
		x0, x1, x2, x3 = uint32(p1>>32)^x1^ks[r][0], uint32(p1), uint32(p0>>32)^x3^ks[r][1], uint32(p0)
	}
	return [4]uint32{x0, x1, x2, x3}
}

// checkPhiloxReference fails t unless the suite's Philox reproduces
// Random123's known answers.
func checkPhiloxReference(t *testing.T) {
	t.Helper()
	for _, v := range philoxKAT {
		if got := refPhilox(v.ctr, v.key); got != v.out {
			t.Fatalf("reference philox4x32_10(%08x, %08x) = %08x, Random123 says %08x", v.ctr, v.key, got, v.out)
		}
	}
}

// refRandom is what Random(dist, n, seed, offset, a, b) must write: exact
// float32 values for Uniform and Bernoulli (each float32 operation rounded
// on its own), float64 values for Normal.
func refRandom(dist backend.Distribution, n int, seed, offset uint64, a, b float32) []float64 {
	key := [2]uint32{uint32(seed), uint32(seed >> 32)}
	out := make([]float64, n)
	for i := range out {
		c := offset + uint64(i) // wraps mod 2⁶⁴, as specified
		block := c / 4
		words := refPhilox([4]uint32{uint32(block), uint32(block >> 32), 0, 0}, key)
		k := int(c % 4)
		u := float32(math.Ldexp(float64(words[k]>>8), -24))
		switch dist {
		case backend.Uniform:
			diff := b - a
			prod := float32(diff * u)
			out[i] = float64(a + prod)
		case backend.Bernoulli:
			if u < a {
				out[i] = float64(b)
			}
		case backend.Normal:
			pair := k / 2 * 2
			u1 := math.Ldexp(float64(words[pair]>>8)+1, -24)
			u2 := math.Ldexp(float64(words[pair+1]>>8), -24)
			rad, th := math.Sqrt(-2*math.Log(u1)), 2*math.Pi*u2
			z := rad * math.Cos(th)
			if k%2 == 1 {
				z = rad * math.Sin(th)
			}
			out[i] = float64(a) + float64(b)*z
		}
	}
	return out
}

// random compares every backend's Random with refRandom at several seeds
// and offsets (not multiples of 4, across the 32-bit halves of the block
// number, and wrapping at 2⁶⁴), then checks statistics with stated bounds.
func (s *suite) randomNumbers(t *testing.T) {
	checkPhiloxReference(t)
	seeds := []uint64{0, 1, 0xDEADBEEFCAFEF00D}
	offsets := []uint64{0, 1, 3, 6, 1<<34 - 5, 1<<63 + 2, math.MaxUint64 - 2}
	cases := []struct {
		dist     backend.Distribution
		a, b     float32
		abs, rel float64 // 0: bit for bit
	}{
		{backend.Uniform, -2, 3, 0, 0},
		{backend.Uniform, 0, 1, 0, 0},
		{backend.Bernoulli, 0.7, 1 / 0.7, 0, 0},
		{backend.Bernoulli, 0, 5, 0, 0}, // never: all zeros
		{backend.Bernoulli, 1, 2, 0, 0}, // always: u < 1 for every word
		// The GPUs' float32 log, sin and cos against float64: a few ulps of
		// values up to 2·5.8.
		{backend.Normal, 0.5, 2, 3e-5, 1e-5},
	}
	for _, c := range cases {
		for _, seed := range seeds {
			for _, off := range offsets {
				for _, n := range append([]int{0}, Sizes...) {
					want := refRandom(c.dist, n, seed, off, c.a, c.b)
					buf := s.poisoned(n + 1)
					s.b.Random(c.dist, n, seed, off, c.a, c.b, buf)
					got := s.download(t, buf, n+1)
					name := fmt.Sprintf("Random(%v, n=%d, seed=%#x, offset=%#x, a=%v, b=%v)", c.dist, n, seed, off, c.a, c.b)
					if !math.IsNaN(float64(got[n])) {
						t.Errorf("%s wrote past n: %v", name, got[n])
					}
					if c.abs == 0 {
						for i := 0; i < n; i++ {
							if math.Float32bits(got[i]) != math.Float32bits(float32(want[i])) {
								t.Fatalf("%s[%d] = %v (%#08x), want %v (%#08x) bit for bit",
									name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(float32(want[i])))
							}
						}
					} else {
						check(t, name, got[:n], want, c.abs, c.rel)
					}
					s.b.Free(buf)
				}
			}
		}
	}
	s.randomStatistics(t)
}

// randomStatistics checks moments of 10⁵ values of each distribution. Each
// bound is 5 standard deviations of the estimate (false alarms about 1 in
// 10⁶ per check): for a mean, 5σ/√n; for a variance, 5√((μ₄-σ⁴)/n); for the
// correlation of neighbours, 5/√n.
func (s *suite) randomStatistics(t *testing.T) {
	const n = 100000
	buf := s.poisoned(n)
	defer s.b.Free(buf)
	draw := func(d backend.Distribution, a, b float32) []float64 {
		s.b.Random(d, n, 12345, 7, a, b, buf)
		return widen(s.download(t, buf, n))
	}
	moments := func(v []float64) (mean, variance, corr float64) {
		for _, x := range v {
			mean += x
		}
		mean /= float64(len(v))
		var cov float64
		for i, x := range v {
			variance += (x - mean) * (x - mean)
			if i > 0 {
				cov += (x - mean) * (v[i-1] - mean)
			}
		}
		return mean, variance / float64(len(v)), cov / variance
	}
	sq := math.Sqrt(n)
	within := func(what string, got, want, bound float64) {
		t.Helper()
		if math.Abs(got-want) > bound {
			t.Errorf("%s = %.6f, want %.6f ± %.6f", what, got, want, bound)
		}
	}

	u := draw(backend.Uniform, 0, 1)
	for i, x := range u {
		if !(x >= 0 && x < 1) {
			t.Fatalf("uniform value %d = %v, outside [0, 1)", i, x)
		}
	}
	m, v, c := moments(u)
	within("uniform mean", m, 0.5, 5*math.Sqrt(1.0/12)/sq)
	within("uniform variance", v, 1.0/12, 5*math.Sqrt(1.0/80-1.0/144)/sq)
	within("uniform neighbour correlation", c, 0, 5/sq)

	z := draw(backend.Normal, 0, 1)
	// Box-Muller's radius is at most √(-2·ln 2⁻²⁴) ≈ 5.768 (u1 > 0 by
	// construction): no value is infinite or NaN.
	for i, x := range z {
		if !(math.Abs(x) <= 5.7686) {
			t.Fatalf("normal value %d = %v, beyond Box-Muller's largest radius 5.768", i, x)
		}
	}
	m, v, c = moments(z)
	within("normal mean", m, 0, 5/sq)
	within("normal variance", v, 1, 5*math.Sqrt(2)/sq)
	within("normal neighbour correlation", c, 0, 5/sq)
	var tail int
	for _, x := range z {
		if math.Abs(x) > 1.959964 {
			tail++
		}
	}
	// P(|z| > 1.96) = 0.05: a binomial fraction, sd √(0.05·0.95/n).
	within("normal fraction beyond ±1.96", float64(tail)/n, 0.05, 5*math.Sqrt(0.05*0.95)/sq)

	const keep = 0.7
	mask := draw(backend.Bernoulli, keep, 1/keep)
	kept := 0
	for i, x := range mask {
		switch float32(x) {
		case 1 / keep:
			kept++
		case 0:
		default:
			t.Fatalf("Bernoulli value %d = %v, want 0 or %v", i, x, float32(1/keep))
		}
	}
	within("Bernoulli fraction kept", float64(kept)/n, keep, 5*math.Sqrt(keep*(1-keep))/sq)
	m, _, _ = moments(mask)
	within("Bernoulli (inverted dropout) mean", m, 1, 5*math.Sqrt((1-keep)/keep)/sq)
}
