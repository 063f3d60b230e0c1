package cpu

import (
	"math"
	"math/bits"

	"github.com/diynn/diynn/backend"
)

// Mul computes dst = x ⊙ y.
func (c *Backend) Mul(n int, x, y, dst backend.Buffer) {
	if !c.ok() {
		return
	}
	xd, yd, dd := c.data(x, n, "Mul", "x"), c.data(y, n, "Mul", "y"), c.data(dst, n, "Mul", "dst")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: xd, y: yd, z: dd}
	c.run(n, 3, mulRange)
}

func mulRange(a *kernelArgs, lo, hi int) {
	x, y, d := a.x[lo:hi], a.y[lo:hi], a.z[lo:hi]
	y, d = y[:len(x)], d[:len(x)]
	for i, v := range x {
		d[i] = v * y[i]
	}
}

// MulRowVector computes y = x ⊙ v for every row of x.
func (c *Backend) MulRowVector(rows, cols int, v, x, y backend.Buffer) {
	if !c.ok() || !c.dims("MulRowVector", rows, cols) {
		return
	}
	vd := c.data(v, cols, "MulRowVector", "v")
	xd, yd := c.data(x, rows*cols, "MulRowVector", "x"), c.data(y, rows*cols, "MulRowVector", "y")
	if c.err != nil || cols == 0 {
		return
	}
	c.args = kernelArgs{x: xd, y: yd, v: vd, cols: cols}
	c.run(rows, 2*cols, mulRowVectorRange)
}

func mulRowVectorRange(a *kernelArgs, lo, hi int) {
	for r := lo; r < hi; r++ {
		xr, yr := a.x[r*a.cols:(r+1)*a.cols], a.y[r*a.cols:(r+1)*a.cols]
		for j, s := range a.v {
			yr[j] = xr[j] * s
		}
	}
}

// ScaleBy computes y = alpha·s[0]·x, as (alpha·s[0])·x.
func (c *Backend) ScaleBy(n int, alpha float32, s, x, y backend.Buffer) {
	if !c.ok() {
		return
	}
	sd := c.data(s, 1, "ScaleBy", "s")
	xd, yd := c.data(x, n, "ScaleBy", "x"), c.data(y, n, "ScaleBy", "y")
	if c.err != nil {
		return
	}
	c.args = kernelArgs{x: xd, y: yd, alpha: alpha * sd[0]}
	c.run(n, 2, scaleByRange)
}

func scaleByRange(a *kernelArgs, lo, hi int) {
	x, y := a.x[lo:hi], a.y[lo:hi]
	y = y[:len(x)]
	for i, v := range x {
		y[i] = a.alpha * v
	}
}

// sumChunk is the fixed size of SumSquares' chunks: each is summed on one
// goroutine and the chunk sums are then added in order, so the result does
// not depend on GOMAXPROCS.
const sumChunk = 4096

// SumSquares computes out[0] = beta·out[0] + Σ x², accumulating in float64.
func (c *Backend) SumSquares(n int, x backend.Buffer, beta float32, out backend.Buffer) {
	if !c.ok() {
		return
	}
	xd, od := c.data(x, n, "SumSquares", "x"), c.data(out, 1, "SumSquares", "out")
	if c.err != nil {
		return
	}
	chunks := (n + sumChunk - 1) / sumChunk
	if cap(c.partial) < chunks {
		c.partial = make([]float64, chunks)
	}
	c.args = kernelArgs{x: xd, partial: c.partial[:chunks]}
	c.run(chunks, sumChunk, sumSquaresRange)
	var s float64
	for _, p := range c.partial[:chunks] {
		s += p
	}
	if beta == 0 {
		od[0] = float32(s)
	} else {
		od[0] = float32(float64(beta)*float64(od[0]) + s)
	}
}

func sumSquaresRange(a *kernelArgs, lo, hi int) {
	for k := lo; k < hi; k++ {
		var s float64
		for _, v := range a.x[k*sumChunk : min((k+1)*sumChunk, len(a.x))] {
			s += float64(v) * float64(v)
		}
		a.partial[k] = s
	}
}

// ClipFactor computes factor[0] = min(1, maxNorm/(√sumSquares[0] + 1e-6)),
// keeping a NaN.
func (c *Backend) ClipFactor(maxNorm float32, sumSquares, factor backend.Buffer) {
	if !c.ok() {
		return
	}
	sd, fd := c.data(sumSquares, 1, "ClipFactor", "sumSquares"), c.data(factor, 1, "ClipFactor", "factor")
	if c.err != nil {
		return
	}
	f := float64(maxNorm) / (math.Sqrt(float64(sd[0])) + 1e-6)
	if f >= 1 {
		f = 1
	}
	fd[0] = float32(f)
}

// Random fills dst from Philox 4×32-10 as backend.Distribution specifies.
func (c *Backend) Random(dist backend.Distribution, n int, seed, offset uint64, a, b float32, dst backend.Buffer) {
	if !c.ok() {
		return
	}
	dd := c.data(dst, n, "Random", "dst")
	if c.err != nil {
		return
	}
	if err := dist.Check(); err != nil {
		c.fail("Random: %w", err)
		return
	}
	c.args = kernelArgs{x: dd, dist: dist, seed: seed, offset: offset, alpha: a, beta: b}
	c.run(n, 16, randomRange)
}

// Philox 4×32-10's multipliers and Weyl key increments (Random123).
const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// philox returns philox4x32_10(counter {lo, hi, 0, 0} of block, key {lo, hi}
// of seed).
func philox(block, seed uint64) [4]uint32 {
	c := [4]uint32{uint32(block), uint32(block >> 32), 0, 0}
	k0, k1 := uint32(seed), uint32(seed>>32)
	for r := 0; r < 10; r++ {
		hi0, lo0 := bits.Mul32(philoxM0, c[0])
		hi1, lo1 := bits.Mul32(philoxM1, c[2])
		c = [4]uint32{hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0}
		k0 += philoxW0
		k1 += philoxW1
	}
	return c
}

const twoPow24 = 1.0 / (1 << 24)

func randomRange(a *kernelArgs, lo, hi int) {
	if a.dist == backend.Bernoulli {
		bernoulliRange(a, lo, hi)
		return
	}
	out := a.x[lo:hi]
	var blk [4]uint32
	have, cur := false, uint64(0)
	for j := range out {
		ctr := a.offset + uint64(lo+j)
		if b := ctr >> 2; !have || b != cur {
			blk, cur, have = philox(b, a.seed), b, true
		}
		w := int(ctr & 3)
		u := float32(blk[w]>>8) * twoPow24
		switch a.dist {
		case backend.Uniform:
			// Each operation rounded on its own: the explicit conversion
			// keeps the compiler from fusing a multiply-add (Go's spec
			// allows it), which the GPUs' kernels do not do either.
			d := a.beta - a.alpha
			p := float32(d * u)
			out[j] = a.alpha + p
		case backend.Bernoulli:
			if u < a.alpha {
				out[j] = a.beta
			} else {
				out[j] = 0
			}
		case backend.Normal:
			p := w &^ 1
			u1 := float64((blk[p]>>8)+1) * twoPow24
			u2 := float64(blk[p+1]>>8) * twoPow24
			r := math.Sqrt(-2 * math.Log(u1))
			var z float64
			if w&1 == 0 {
				z = r * math.Cos(2*math.Pi*u2)
			} else {
				z = r * math.Sin(2*math.Pi*u2)
			}
			out[j] = float32(float64(a.alpha) + float64(a.beta)*z)
		}
	}
}

// bernoulliRange is randomRange for backend.Bernoulli (Dropout's masks, a
// training step's only draws), the same values faster: a whole Philox block
// of four at a time, and the choice between beta and 0 made on bits, a
// conditional move where a branch on random data mispredicts.
func bernoulliRange(a *kernelArgs, lo, hi int) {
	betaBits := math.Float32bits(a.beta)
	put := func(j int, r uint32) {
		var v uint32
		if float32(r>>8)*twoPow24 < a.alpha {
			v = betaBits
		}
		a.x[j] = math.Float32frombits(v)
	}
	j := lo
	// The head, up to the first whole block of counters.
	for ; j < hi && (a.offset+uint64(j))&3 != 0; j++ {
		ctr := a.offset + uint64(j)
		put(j, philox(ctr>>2, a.seed)[ctr&3])
	}
	for ; j+4 <= hi; j += 4 {
		blk := philox((a.offset+uint64(j))>>2, a.seed)
		put(j, blk[0])
		put(j+1, blk[1])
		put(j+2, blk[2])
		put(j+3, blk[3])
	}
	if j < hi {
		ctr := a.offset + uint64(j)
		blk := philox(ctr>>2, a.seed)
		for ; j < hi; j++ {
			put(j, blk[(a.offset+uint64(j))&3])
		}
	}
}
