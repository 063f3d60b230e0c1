// Package tsne embeds high-dimensional vectors in 1, 2 or 3 dimensions
// with t-SNE (van der Maaten & Hinton 2008): exactly for small inputs, in
// its Barnes-Hut form (van der Maaten 2014), or with FIt-SNE's
// FFT-accelerated interpolation (Linderman et al. 2019, fft.go) with the
// near field summed exactly (fftnear.go) for 1-D maps and 2-D maps from
// FFTCrossover points (Config.Method). PCA, the learning-rate rule of
// scikit-learn (LearningRateFor) and the quality measures Trustworthiness
// and KNNAccuracy come with it, for the steps before and after.
//
// Barnes-Hut t-SNE calibrates each point's Gaussian to the perplexity by
// binary search over its 3·perplexity nearest neighbours (found exactly:
// with a vantage-point tree in up to 10 dimensions, above that from blocks
// of distances computed by a float32 matrix product and checked in
// float64, knn.go), so the input affinities are sparse, and approximates
// the repulsive forces with a 2^d-ary space-partitioning tree (a quadtree in
// 2-D, an octree in 3-D). Optimisation follows the reference implementation:
// early exaggeration, momentum 0.5 then 0.8, and per-coordinate gains.
// Forces are computed on all cores; results do not depend on their number.
// On amd64 CPUs with AVX2 the innermost loops of 2-D maps (the attraction,
// the FFT method's near pairs and grid correction, the nearest-neighbour
// scan) run in assembly, four pairs at a time (pairs.go); elsewhere the same
// loops run in Go.
//
// No Go library offered Barnes-Hut t-SNE (those that exist are exact and
// O(n²) in memory), hence this package.
package tsne

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"time"
)

// Config holds t-SNE's parameters; zero values take the defaults noted.
// Run refuses any other value outside the range noted with a *ConfigError.
type Config struct {
	Dims       int     // 1, 2 or 3 (default 2)
	Perplexity float64 // the effective number of neighbours: at least 1, below n/3 (default 30)
	Iters      int     // gradient-descent iterations, at least 0 (default 1000)
	// Method computes the repulsive forces: MethodBH (Barnes-Hut, any
	// Dims), MethodFFT (FIt-SNE's interpolation, Dims 1 or 2), MethodExact,
	// or MethodAuto (the default, also for ""), which picks FFT in 1-D and
	// in 2-D from FFTCrossover points, exact t-SNE when Theta is Exact, and
	// Barnes-Hut otherwise. Result.Method says which ran.
	Method Method
	// Theta is the Barnes-Hut accuracy, in (0, 1] as in scikit-learn
	// (default 0.5; smaller is more exact and slower), or Exact for exact
	// t-SNE. The FFT method ignores it.
	Theta float64
	// EarlyExaggeration multiplies the input affinities for the first
	// ExaggerationIters iterations: 1 (none) to MaxRate, as scikit-learn
	// requires at least 1 (default 12).
	EarlyExaggeration float64
	// ExaggerationIters is at least 0 and at most Iters (default 250, or
	// Iters if that is smaller). Zero takes the default; to turn early
	// exaggeration off, set EarlyExaggeration to 1.
	ExaggerationIters int
	// LearningRate is positive, at most MaxRate (default 200), or
	// AutoLearningRate for scikit-learn's rule (see LearningRateFor).
	LearningRate float64
	Seed         uint64
	// Workers is the number of goroutines that compute the forces (default
	// GOMAXPROCS). The result does not depend on it: every sum is done in
	// an order fixed by the data.
	Workers int
	// Progress, when not nil, receives a line when the affinities are
	// ready and, every 50 iterations, the iteration, the KL divergence,
	// the time so far and an estimate of the time left.
	Progress io.Writer
}

// Method is a way of computing t-SNE's repulsive forces.
type Method string

// The methods. Barnes-Hut costs O(n log n) per iteration with a constant
// that grows with the dimension; the FFT method O(n) for the points plus
// a grid transform whose size depends on the embedding's extent only
// (fft.go, with the near field summed exactly, fftnear.go): the faster in
// 1-D, and in 2-D from FFTCrossover points.
const (
	MethodAuto  Method = "auto"
	MethodBH    Method = "bh"
	MethodFFT   Method = "fft"
	MethodExact Method = "exact"
)

// FFTCrossover is the number of points from which MethodAuto uses the FFT
// method for 2-D maps. On this project's 2-core machine (Fashion-MNIST,
// PCA 50, perplexity 30, 1000 iterations; docs/BENCHMARKS.md), with the
// assembly kernels, the FFT method took 0.21-0.32 s against Barnes-Hut's
// 0.27-0.35 s at 200 points, 0.55-0.60 against 0.69-0.83 s at 500 and
// 0.84-1.08 against 1.38-1.61 s at 1 000, with KL divergences within 2% of
// each other from 500 points (7% apart in one of two runs at 200, where a
// map's KL depends on the path the optimiser took); 3.5-3.9 against
// 9.2-10.9 s at 5 000. 1-D maps always use FFT.
const FFTCrossover = 500

// AutoLearningRate, as Config.LearningRate, selects LearningRateFor's rule.
const AutoLearningRate = -1.0

// LearningRateFor is the learning rate of scikit-learn's
// learning_rate="auto" (since 1.2; Belkina et al. 2019):
// max(n / earlyExaggeration / 4, 50). openTSNE's rule is n /
// earlyExaggeration, because its gradient omits the factor 4 that
// scikit-learn's and this package's include: the two are the same step.
// At 10 000 points and exaggeration 12 it is 208, near the old fixed 200;
// at 70 000, 1458, which large maps need to converge in 1000 iterations.
func LearningRateFor(n int, earlyExaggeration float64) float64 {
	if earlyExaggeration <= 0 {
		earlyExaggeration = 12
	}
	return math.Max(float64(n)/earlyExaggeration/4, 50)
}

// Result is an embedding.
type Result struct {
	Y            []float64 // n×Dims, row-major
	Dims         int
	Method       Method  // the method that ran (never MethodAuto)
	LearningRate float64 // the learning rate used (LearningRateFor's, if AutoLearningRate)
	// KL is the Kullback-Leibler divergence of the final embedding: exact in
	// exact mode; in Barnes-Hut and FFT modes computed over the sparse input
	// affinities with the method's estimate of the normalisation, as the
	// reference implementations report it.
	KL float64
}

// Exact is the Theta that selects exact t-SNE: O(n²) time and memory.
const Exact = -1.0

// MaxRate bounds LearningRate and EarlyExaggeration: far above any useful
// value (200 and 12 are usual), and low enough that the coordinates cannot
// overflow.
const MaxRate = 1e9

// Limits on the number of points. The Barnes-Hut tree indexes its cells
// with int32 (a tree has a few cells per point), hence MaxPoints. Memory,
// not this limit, is what bounds Barnes-Hut in practice: the sparse
// affinities take up to about 200 bytes per neighbour pair while they are
// built, that is n·3·Perplexity pairs (about 18 KB per point at the default
// perplexity), and the optimiser and its tree a few hundred bytes per
// point. Exact t-SNE
// holds every pair, 24·n² bytes (25 GB at MaxExactPoints), and costs n²
// per iteration.
const (
	MaxPoints      = 1 << 27
	MaxExactPoints = 1 << 15
)

// ErrConfig is wrapped by every error that Run returns for an unusable
// Config, so that callers can tell a bad parameter from bad data or a
// failed run with errors.Is(err, ErrConfig); errors.As gives the
// *ConfigError, which names the field.
var ErrConfig = errors.New("tsne: invalid configuration")

// ConfigError reports a Config field whose value Run refuses.
type ConfigError struct {
	Field string // the Config field, e.g. "Perplexity"
	Value string // its value, e.g. "-5" or "NaN"
	Want  string // what would be accepted, or why the value cannot work
}

func (e *ConfigError) Error() string { return "tsne: " + e.Field + " " + e.Value + ": " + e.Want }

func (e *ConfigError) Unwrap() error { return ErrConfig }

func badFloat(field string, v float64, want string) error {
	return &ConfigError{Field: field, Value: strconv.FormatFloat(v, 'g', -1, 64), Want: want}
}

func badInt(field string, v int, want string) error {
	return &ConfigError{Field: field, Value: strconv.Itoa(v), Want: want}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Validate reports, as a *ConfigError, the first field of c that Run would
// refuse whatever the data; Run also refuses a Perplexity too large for the
// number of points, and Exact for more than MaxExactPoints. Zero values,
// which take the defaults, are valid.
func (c Config) Validate() error {
	if c.Dims < 0 || c.Dims > 3 {
		return badInt("Dims", c.Dims, "want 1, 2 or 3 output dimensions")
	}
	switch c.Method {
	case "", MethodAuto, MethodBH, MethodFFT, MethodExact:
	default:
		return &ConfigError{Field: "Method", Value: strconv.Quote(string(c.Method)), Want: `want "auto", "bh", "fft" or "exact"`}
	}
	if c.Method == MethodFFT && c.Dims == 3 {
		return &ConfigError{Field: "Method", Value: `"fft"`, Want: "the FFT method embeds in 1 or 2 dimensions; use Barnes-Hut for 3"}
	}
	if c.Theta == Exact && (c.Method == MethodBH || c.Method == MethodFFT) {
		return &ConfigError{Field: "Method", Value: strconv.Quote(string(c.Method)), Want: "conflicts with Theta -1 (Exact)"}
	}
	if p := c.Perplexity; p != 0 && !(finite(p) && p >= 1) {
		return badFloat("Perplexity", p, "want a finite number, at least 1 (the effective number of neighbours)")
	}
	if c.Iters < 0 {
		return badInt("Iters", c.Iters, "want a positive number of iterations")
	}
	if th := c.Theta; th != 0 && th != Exact && !(th > 0 && th <= 1) {
		return badFloat("Theta", th, "want a Barnes-Hut accuracy in (0, 1], or -1 (Exact) for exact t-SNE")
	}
	if e := c.EarlyExaggeration; e != 0 && !(e >= 1 && e <= MaxRate) {
		return badFloat("EarlyExaggeration", e, "want a finite number from 1 (none) to 1e9")
	}
	iters := c.Iters
	if iters == 0 {
		iters = 1000
	}
	if c.ExaggerationIters < 0 {
		return badInt("ExaggerationIters", c.ExaggerationIters, "want a positive number of iterations")
	}
	if c.ExaggerationIters > iters {
		return badInt("ExaggerationIters", c.ExaggerationIters, fmt.Sprintf("more than the %d iterations in all (Iters)", iters))
	}
	if lr := c.LearningRate; lr != 0 && lr != AutoLearningRate && !(lr > 0 && lr <= MaxRate) {
		return badFloat("LearningRate", lr, "want a positive finite number, at most 1e9, or -1 (AutoLearningRate)")
	}
	return nil
}

func (c *Config) defaults(n int) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Dims == 0 {
		c.Dims = 2
	}
	if c.Perplexity == 0 {
		c.Perplexity = 30
	}
	if c.Iters == 0 {
		c.Iters = 1000
	}
	if c.Theta == 0 {
		c.Theta = 0.5
	}
	if c.EarlyExaggeration == 0 {
		c.EarlyExaggeration = 12
	}
	if c.ExaggerationIters == 0 {
		c.ExaggerationIters = min(250, c.Iters)
	}
	if c.LearningRate == 0 {
		c.LearningRate = 200
	}
	if c.LearningRate == AutoLearningRate {
		c.LearningRate = LearningRateFor(n, c.EarlyExaggeration)
	}
	switch {
	case c.Theta == Exact || c.Method == MethodExact:
		c.Method = MethodExact
	case c.Method == MethodBH || c.Method == MethodFFT:
	case c.Dims == 1 || c.Dims == 2 && n >= FFTCrossover:
		c.Method = MethodFFT
	default:
		c.Method = MethodBH
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if n < 2 {
		return fmt.Errorf("tsne: %d points: need at least 2", n)
	}
	if n > MaxPoints {
		return fmt.Errorf("tsne: %d points: at most %d", n, MaxPoints)
	}
	if 3*c.Perplexity > float64(n-1) {
		return badFloat("Perplexity", c.Perplexity, fmt.Sprintf("too large for %d points (3·perplexity must be below n)", n))
	}
	if c.Method == MethodExact && n > MaxExactPoints {
		if c.Theta != Exact {
			return &ConfigError{Field: "Method", Value: `"exact"`,
				Want: fmt.Sprintf("exact t-SNE of %d points needs 24·n² bytes of memory: at most %d points; use Barnes-Hut or FFT", n, MaxExactPoints)}
		}
		return badFloat("Theta", c.Theta, fmt.Sprintf("exact t-SNE of %d points needs 24·n² bytes of memory: at most %d points; use Barnes-Hut", n, MaxExactPoints))
	}
	return nil
}

// Run embeds the n rows of x (d values each). An unusable cfg gives an
// error that wraps ErrConfig.
func Run(x []float64, n, d int, cfg Config) (*Result, error) {
	if n <= 0 || d <= 0 || len(x) != n*d {
		return nil, fmt.Errorf("tsne: %d values for %d points of %d dimensions", len(x), n, d)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("tsne: value %d (point %d) is %v", i, i/d, v)
		}
	}
	if err := cfg.defaults(n); err != nil {
		return nil, err
	}
	start := time.Now()
	x = normalize(x, n, d)
	var p affinities
	if cfg.Method == MethodExact {
		p = exactAffinities(x, n, d, cfg.Perplexity)
	} else {
		p = sparseAffinities(x, n, d, cfg.Perplexity, cfg.Seed, cfg.Workers)
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "affinities of %d points (%d pairs) in %.1fs; %s method, learning rate %.4g\n",
			n, len(p.val), time.Since(start).Seconds(), cfg.Method, cfg.LearningRate)
	}
	order := bfsOrder(p, n) // for locality (order.go); undone below
	o := newOptimizer(n, cfg, p.renumber(order), order)
	if err := o.run(); err != nil {
		return nil, err
	}
	y := make([]float64, len(o.y))
	for k, i := range order {
		copy(y[int(i)*cfg.Dims:(int(i)+1)*cfg.Dims], o.y[k*cfg.Dims:(k+1)*cfg.Dims])
	}
	return &Result{Y: y, Dims: cfg.Dims, Method: cfg.Method, LearningRate: cfg.LearningRate, KL: o.kl()}, nil
}

// run does the gradient descent. Coordinates that stop being finite end
// it with an error rather than an embedding of NaNs.
func (o *optimizer) run() error {
	cfg := o.cfg
	start := time.Now()
	for it := 0; it < cfg.Iters; it++ {
		if it == cfg.ExaggerationIters {
			o.exaggeration = 1
			o.momentum = 0.8
		}
		if !o.step() {
			return fmt.Errorf("tsne: the embedding diverged at iteration %d (its coordinates are no longer finite): "+
				"try a smaller learning rate (%g) or early exaggeration (%g)", it+1, cfg.LearningRate, cfg.EarlyExaggeration)
		}
		if cfg.Progress != nil && ((it+1)%50 == 0 || it == cfg.Iters-1) {
			took := time.Since(start)
			left := time.Duration(float64(took) / float64(it+1) * float64(cfg.Iters-it-1))
			fmt.Fprintf(cfg.Progress, "iteration %4d of %d: KL divergence %.4f (%.1fs, about %.0fs left)\n",
				it+1, cfg.Iters, o.kl(), took.Seconds(), left.Seconds())
		}
	}
	return nil
}

// normalize centres the data and scales it into [-1, 1], as the reference
// implementation does, so that the perplexity search starts from sensible
// distances whatever the units.
func normalize(x []float64, n, d int) []float64 {
	out := make([]float64, len(x))
	copy(out, x)
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			mean[j] += out[i*d+j] / float64(n)
		}
	}
	maxAbs := 0.0
	for i := range out {
		out[i] -= mean[i%d]
		maxAbs = math.Max(maxAbs, math.Abs(out[i]))
	}
	if maxAbs > 0 {
		for i := range out {
			out[i] /= maxAbs
		}
	}
	return out
}

// affinities is the symmetric input similarity matrix P (summing to 1) in
// compressed sparse rows; exact mode stores every pair.
type affinities struct {
	rowStart []int
	col      []int32 // 4 bytes: the optimiser streams every edge each iteration
	val      []float64
}

// calibrate sets row[j] = exp(-beta·d2[j]) / Σ with beta found by binary
// search so that the row's perplexity is perp, and returns the entropy.
func calibrate(d2 []float64, perp float64, row []float64) float64 {
	target := math.Log(perp)
	beta, lo, hi := 1.0, math.Inf(-1), math.Inf(1)
	var h float64
	for iter := 0; iter < 200; iter++ {
		var sum, dot float64
		for j, v := range d2 {
			row[j] = math.Exp(-beta * v)
			sum += row[j]
			dot += v * row[j]
		}
		if sum == 0 {
			sum = math.SmallestNonzeroFloat64
		}
		h = beta*dot/sum + math.Log(sum)
		diff := h - target
		if math.Abs(diff) < 1e-5 {
			break
		}
		if diff > 0 { // too flat: sharpen
			lo = beta
			if math.IsInf(hi, 1) {
				beta *= 2
			} else {
				beta = (beta + hi) / 2
			}
		} else {
			hi = beta
			if math.IsInf(lo, -1) {
				beta /= 2
			} else {
				beta = (beta + lo) / 2
			}
		}
	}
	var sum float64
	for _, v := range row {
		sum += v
	}
	if sum == 0 {
		sum = math.SmallestNonzeroFloat64
	}
	for j := range row {
		row[j] /= sum
	}
	return h
}

func sqDist(a, b []float64) float64 {
	var s float64
	for i := range a {
		t := a[i] - b[i]
		s += t * t
	}
	return s
}

// exactAffinities computes P over all pairs.
func exactAffinities(x []float64, n, d int, perp float64) affinities {
	cond := make([]float64, n*n)
	d2 := make([]float64, n-1)
	row := make([]float64, n-1)
	for i := 0; i < n; i++ {
		k := 0
		for j := 0; j < n; j++ {
			if j != i {
				d2[k] = sqDist(x[i*d:(i+1)*d], x[j*d:(j+1)*d])
				k++
			}
		}
		calibrate(d2, perp, row)
		k = 0
		for j := 0; j < n; j++ {
			if j != i {
				cond[i*n+j] = row[k]
				k++
			}
		}
	}
	p := affinities{rowStart: make([]int, n+1)}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if j != i {
				p.col = append(p.col, int32(j))
				p.val = append(p.val, (cond[i*n+j]+cond[j*n+i])/(2*float64(n)))
			}
		}
		p.rowStart[i+1] = len(p.col)
	}
	return p
}

// sparseAffinities computes P from each point's 3·perplexity nearest
// neighbours and symmetrises it: P = (P_cond + P_condᵀ) / (2n).
func sparseAffinities(x []float64, n, d int, perp float64, seed uint64, workers int) affinities {
	k := min(n-1, int(3*perp))
	nbr, dist := knn(x, n, d, k, seed, workers)
	cond := make([]float64, n*k)
	parallelRange(n, workers, func(lo, hi int) {
		d2 := make([]float64, k)
		for i := lo; i < hi; i++ {
			for m := 0; m < k; m++ {
				d2[m] = dist[i*k+m] * dist[i*k+m]
			}
			calibrate(d2, perp, cond[i*k:(i+1)*k])
		}
	})
	// Symmetrise: gather both directions of every edge per row, sort each
	// row by column and add up the pairs that appear twice (j among i's
	// neighbours and i among j's). Rows are independent, so they are done
	// in parallel; each is sorted by column, whatever the workers.
	type edge struct {
		j int
		v float64
	}
	start := make([]int, n+1)
	for i := 0; i < n; i++ {
		start[i+1] += k
		for m := 0; m < k; m++ {
			start[nbr[i*k+m]+1]++
		}
	}
	for i := 0; i < n; i++ {
		start[i+1] += start[i]
	}
	edges := make([]edge, start[n])
	fill := slices.Clone(start[:n])
	for i := 0; i < n; i++ {
		for m := 0; m < k; m++ {
			j, v := nbr[i*k+m], cond[i*k+m]
			edges[fill[i]] = edge{j, v}
			fill[i]++
			edges[fill[j]] = edge{i, v}
			fill[j]++
		}
	}
	kept := make([]int, n+1) // distinct columns per row
	parallelRange(n, workers, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := edges[start[i]:start[i+1]]
			slices.SortFunc(row, func(a, b edge) int { return cmp.Compare(a.j, b.j) })
			m := 0
			for _, e := range row {
				if m > 0 && row[m-1].j == e.j {
					row[m-1].v += e.v
					continue
				}
				row[m] = e
				m++
			}
			kept[i+1] = m
		}
	})
	p := affinities{rowStart: make([]int, n+1)}
	for i := 0; i < n; i++ {
		p.rowStart[i+1] = p.rowStart[i] + kept[i+1]
	}
	p.col, p.val = make([]int32, p.rowStart[n]), make([]float64, p.rowStart[n])
	parallelRange(n, workers, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for a, e := range edges[start[i] : start[i]+kept[i+1]] {
				p.col[p.rowStart[i]+a] = int32(e.j)
				p.val[p.rowStart[i]+a] = e.v / (2 * float64(n))
			}
		}
	})
	return p
}

// optimizer is the gradient descent state.
type optimizer struct {
	n, dims      int
	cfg          Config
	p            affinities
	y, update    []float64
	gains, grad  []float64
	exaggeration float64
	momentum     float64
	rep          []float64 // per-point repulsive forces
	sumQ         []float64 // per-point contributions to Z
	tree         spTree    // rebuilt in place every iteration
	order        []int32   // points in Morton order, for cache locality
	keys         []uint64
	fft          *fftGrid // the FFT method's grid, reused every iteration
}

// newOptimizer starts from small random coordinates, those of input point
// order[k] for point k (order nil: the identity).
func newOptimizer(n int, cfg Config, p affinities, order []int32) *optimizer {
	o := &optimizer{n: n, dims: cfg.Dims, cfg: cfg, p: p, exaggeration: cfg.EarlyExaggeration, momentum: 0.5}
	size := n * cfg.Dims
	o.y, o.update, o.gains, o.grad = make([]float64, size), make([]float64, size), make([]float64, size), make([]float64, size)
	o.rep, o.sumQ = make([]float64, size), make([]float64, n)
	o.order, o.keys = make([]int32, n), make([]uint64, n)
	if cfg.Method == MethodFFT {
		o.fft = newFFTGrid(cfg.Dims, defaultFFT)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x751e))
	for i := range o.y {
		o.y[i] = 1e-4 * rng.NormFloat64()
		o.gains[i] = 1
	}
	if order != nil {
		byInput := append([]float64(nil), o.y...)
		d := cfg.Dims
		for k, i := range order {
			copy(o.y[k*d:(k+1)*d], byInput[int(i)*d:(int(i)+1)*d])
		}
	}
	return o
}

// parallel runs fn over the points in one chunk per worker.
func (o *optimizer) parallel(fn func(lo, hi int)) { parallelRange(o.n, o.cfg.Workers, fn) }

// gradient fills o.grad with dKL/dy (with the current exaggeration).
func (o *optimizer) gradient() {
	var z float64
	if o.fft != nil {
		z = o.fft.repulsion(o.y, o.n, o.cfg.Workers, o.rep)
	} else {
		z = o.treeRepulsion()
	}
	o.attract(z)
}

// treeRepulsion fills o.rep by Barnes-Hut or exactly, and returns Z.
func (o *optimizer) treeRepulsion() float64 {
	d := o.dims
	exact := o.cfg.Method == MethodExact
	mortonOrder(o.y, o.n, d, o.order, o.keys)
	var tree *spTree
	if !exact {
		tree = o.tree.rebuild(o.y, o.n, d, o.order)
	}
	// Repulsion: per point, Σ_j q_ij²(y_i-y_j) and Σ_j q_ij (q_ij = 1/(1+|y_i-y_j|²)).
	o.parallel(func(lo, hi int) {
		stack := make([]int32, 0, 64)
		for _, i32 := range o.order[lo:hi] {
			i := int(i32)
			f := o.rep[i*d : (i+1)*d]
			clear(f)
			yi := o.y[i*d : (i+1)*d]
			if exact {
				var s float64
				for j := 0; j < o.n; j++ {
					if j == i {
						continue
					}
					q := 1 / (1 + sqDist(yi, o.y[j*d:(j+1)*d]))
					s += q
					for c := 0; c < d; c++ {
						f[c] += q * q * (yi[c] - o.y[j*d+c])
					}
				}
				o.sumQ[i] = s
			} else {
				o.sumQ[i] = tree.repulsion(yi, o.cfg.Theta, f, &stack)
			}
		}
	})
	var z float64
	for _, s := range o.sumQ { // in order: the result does not depend on the workers
		z += s
	}
	return z
}

// attract adds the attractive forces of the sparse P and fills o.grad.
func (o *optimizer) attract(z float64) {
	d := o.dims
	// Attraction from the sparse P, then the gradient. Coordinates are
	// held in fixed 3-vectors (z = 0 in 2-D): this loop runs over every
	// edge of P each iteration.
	o.parallel(func(lo, hi int) {
		y, val, col := o.y, o.p.val, o.p.col
		for i := lo; i < hi; i++ {
			var g [3]float64
			start, end := o.p.rowStart[i], o.p.rowStart[i+1]
			if d == 1 {
				y0 := y[i]
				for a := start; a < end; a++ {
					dx := y0 - y[int(col[a])]
					g[0] += val[a] / (1 + dx*dx) * dx
				}
			} else if d == 2 {
				g[0], g[1] = attractRow2(y, col[start:end], val[start:end], y[2*i], y[2*i+1])
			} else {
				y0, y1, y2 := y[3*i], y[3*i+1], y[3*i+2]
				for a := start; a < end; a++ {
					j := 3 * int(col[a])
					dx, dy, dz := y0-y[j], y1-y[j+1], y2-y[j+2]
					m := val[a] / (1 + dx*dx + dy*dy + dz*dz)
					g[0] += m * dx
					g[1] += m * dy
					g[2] += m * dz
				}
			}
			for c := 0; c < d; c++ {
				o.grad[i*d+c] = 4 * (o.exaggeration*g[c] - o.rep[i*d+c]/z)
			}
		}
	})
}

// step applies one update with momentum and gains, then recentres. It
// reports whether the coordinates are still finite (a NaN or an infinity
// makes a mean non-finite).
func (o *optimizer) step() bool {
	o.gradient()
	eta := o.cfg.LearningRate
	d := o.dims
	o.parallel(func(lo, hi int) { // element by element: the same for any number of workers
		for i := lo * d; i < hi*d; i++ {
			g := o.grad[i]
			if (g > 0) != (o.update[i] > 0) {
				o.gains[i] += 0.2
			} else {
				o.gains[i] *= 0.8
			}
			o.gains[i] = math.Max(o.gains[i], 0.01)
			o.update[i] = o.momentum*o.update[i] - eta*o.gains[i]*g
			o.y[i] += o.update[i]
		}
	})
	for c := 0; c < d; c++ {
		var mean float64
		for i := 0; i < o.n; i++ {
			mean += o.y[i*d+c]
		}
		mean /= float64(o.n)
		if !finite(mean) {
			return false
		}
		for i := 0; i < o.n; i++ {
			o.y[i*d+c] -= mean
		}
	}
	return true
}

// kl returns KL(P‖Q) for the current embedding, without exaggeration.
func (o *optimizer) kl() float64 {
	d := o.dims
	var z float64
	if o.fft != nil {
		z = o.fft.normalisation(o.y, o.n, o.cfg.Workers)
	} else if o.cfg.Method == MethodExact {
		for i := 0; i < o.n; i++ {
			for j := 0; j < o.n; j++ {
				if i != j {
					z += 1 / (1 + sqDist(o.y[i*d:(i+1)*d], o.y[j*d:(j+1)*d]))
				}
			}
		}
	} else {
		mortonOrder(o.y, o.n, d, o.order, o.keys)
		tree := o.tree.rebuild(o.y, o.n, d, o.order)
		o.parallel(func(lo, hi int) {
			stack := make([]int32, 0, 64)
			f := make([]float64, d)
			for _, i := range o.order[lo:hi] {
				o.sumQ[i] = tree.repulsion(o.y[int(i)*d:(int(i)+1)*d], o.cfg.Theta, f, &stack)
			}
		})
		for _, s := range o.sumQ {
			z += s
		}
	}
	// Row by row in parallel (a logarithm per edge), then the rows' sums
	// in order: the same for any number of workers.
	o.parallel(func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var row float64
			for a := o.p.rowStart[i]; a < o.p.rowStart[i+1]; a++ {
				pij := o.p.val[a]
				if pij <= 0 {
					continue
				}
				j := int(o.p.col[a])
				q := 1 / (1 + sqDist(o.y[i*d:(i+1)*d], o.y[j*d:(j+1)*d])) / z
				row += pij * math.Log(pij/math.Max(q, math.SmallestNonzeroFloat64))
			}
			o.sumQ[i] = row
		}
	})
	var kl float64
	for _, row := range o.sumQ {
		kl += row
	}
	return kl
}
