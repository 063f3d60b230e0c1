// Package cpu is diynn's pure-Go backend: GEMM through gonum's blas32
// interface (diynn's own assembly SGEMM, package gemm, by default; OpenBLAS
// with build tag openblas; gonum's on request) and the other kernels as Go
// loops, split across GOMAXPROCS goroutines when they are large enough to
// pay for it.
//
// It registers itself as "cpu" and is always compiled in.
package cpu

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu/gemm"
	"gonum.org/v1/gonum/blas"
)

func init() {
	backend.Register(backend.Driver{Name: "cpu", Rank: 10, Open: func() (backend.Backend, error) {
		if err := gemm.EnvError(); err != nil {
			return nil, fmt.Errorf("cpu: %w", err)
		}
		return New(), nil
	}})
}

// buffer is host memory that only this package reads.
type buffer struct {
	data    []float32
	owner   *Backend
	freed   bool
	wrapped bool // host memory owned by the caller (Wrap)
}

func (b *buffer) Len() int { return len(b.data) }

// Backend runs kernels on the host. Create one with New or
// backend.Open("cpu").
type Backend struct {
	gemm   gemmImpl
	gemmWS []*gemm.Workspace // diynn's SGEMM: one per tile index (see gemm.go)
	gemmEp []*gemmEpilogue   // GemmBiasAct: one epilogue per tile index
	err    error
	stats  backend.MemStats
	closed bool
	args   kernelArgs
	pool   workers

	partial    []float64 // SumSquares' chunk sums, kept between calls
	colPartial []float64 // SumRows' column sums per block of rows
}

// New returns a CPU backend whose GEMM is the build's default: diynn's own
// (package gemm), or OpenBLAS in a build with -tags openblas. A
// DIYNN_GEMM_KERNEL that names no kernel (gemm.EnvError) is its sticky
// error from the start, so that a typo is never silently ignored;
// backend.Open("cpu") refuses to open instead.
func New() *Backend {
	c := &Backend{gemm: gemmImpls()[0]}
	if err := gemm.EnvError(); err != nil {
		c.fail("%w", err)
	}
	return c
}

// NewWithGEMM returns a CPU backend whose matrix products run on the named
// SGEMM, one of GEMMs(); cmd/bench uses it to compare them in one run.
func NewWithGEMM(name string) (*Backend, error) {
	if err := gemm.EnvError(); err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	for _, g := range gemmImpls() {
		if g.name == name {
			return &Backend{gemm: g}, nil
		}
	}
	return nil, fmt.Errorf("cpu: no GEMM named %q in this build (have %s)", name, strings.Join(GEMMs(), ", "))
}

// Name returns "cpu".
func (c *Backend) Name() string { return "cpu" }

// Device describes the host and the BLAS in use.
func (c *Backend) Device() string {
	return fmt.Sprintf("%s/%s, %d threads, %s GEMM", runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), c.gemm.label)
}

// fail records the first error; later kernels become no-ops.
func (c *Backend) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("cpu: "+format, args...)
	}
}

// ok reports whether kernels may run.
func (c *Backend) ok() bool {
	if c.closed && c.err == nil {
		c.err = backend.ErrClosed
	}
	return c.err == nil
}

// Owner reports the backend that allocated b and whether it was freed
// (backend.Owned).
func (b *buffer) Owner() (any, bool) {
	if b == nil {
		return nil, false
	}
	return b.owner, b.freed
}

// data returns the first n values of b, or nil after recording why b cannot
// serve as the operand named what (backend.CheckOperand).
func (c *Backend) data(b backend.Buffer, n int, op, what string) []float32 {
	if c.err != nil {
		return nil
	}
	cb, err := backend.CheckOperand[*buffer](b, c, n, op, what)
	if err != nil {
		c.fail("%w", err)
		return nil
	}
	return cb.data[:n:n]
}

// Alloc returns a buffer of n values.
func (c *Backend) Alloc(n int) backend.Buffer {
	if n < 0 {
		c.fail("Alloc: negative size %d", n)
		n = 0
	}
	c.stats.Allocs++
	c.stats.LiveBytes += int64(n) * 4
	return &buffer{data: make([]float32, n), owner: c}
}

// Wrap returns a buffer over data, without copying (backend.HostWrapper).
// It is not counted as an allocation.
func (c *Backend) Wrap(data []float32) backend.Buffer {
	return &buffer{data: data, owner: c, wrapped: true}
}

// Free releases b.
func (c *Backend) Free(b backend.Buffer) {
	cb, ok := b.(*buffer)
	if !ok || cb == nil || cb.owner != c || cb.freed {
		c.fail("Free: buffer is nil, foreign or already freed")
		return
	}
	cb.freed = true
	if !cb.wrapped {
		c.stats.Frees++
		c.stats.LiveBytes -= int64(len(cb.data)) * 4
	}
	cb.data = nil
}

// Upload copies src into the start of dst.
func (c *Backend) Upload(dst backend.Buffer, src []float32) {
	if !c.ok() {
		return
	}
	if d := c.data(dst, len(src), "Upload", "dst"); d != nil {
		copy(d, src)
	}
}

// Download copies the start of src into dst and returns the sticky error.
func (c *Backend) Download(dst []float32, src backend.Buffer) error {
	if !c.ok() {
		return c.err
	}
	if s := c.data(src, len(dst), "Download", "src"); s != nil {
		copy(dst, s)
	}
	return c.err
}

// Copy copies n values from src to dst.
func (c *Backend) Copy(n int, src, dst backend.Buffer) {
	if !c.ok() {
		return
	}
	s, d := c.data(src, n, "Copy", "src"), c.data(dst, n, "Copy", "dst")
	if c.err == nil {
		copy(d, s)
	}
}

// Fill sets n values of dst to v.
func (c *Backend) Fill(n int, v float32, dst backend.Buffer) {
	if !c.ok() {
		return
	}
	d := c.data(dst, n, "Fill", "dst")
	if c.err != nil {
		return
	}
	// Shared with the pool: ZeroGrad clears every gradient each step (half a
	// megabyte for the 784-176-42-10 network), 3% of an epoch on one core.
	c.args = kernelArgs{x: d, alpha: v}
	c.run(len(d), 1, fillRange)
}

func fillRange(a *kernelArgs, lo, hi int) {
	d := a.x[lo:hi]
	if math.Float32bits(a.alpha) == 0 {
		clear(d) // memclr: a quarter of the plain loop's time
		return
	}
	for i := range d {
		d[i] = a.alpha
	}
}

// MemStats reports buffer allocations.
func (c *Backend) MemStats() backend.MemStats { return c.stats }

// Err returns the sticky error.
func (c *Backend) Err() error { return c.err }

// Sync returns the sticky error; CPU kernels finish before they return.
func (c *Backend) Sync() error {
	c.ok()
	return c.err
}

// Close marks the backend closed.
func (c *Backend) Close() error {
	c.closed = true
	c.pool.stop()
	return nil
}

// minParallel is the amount of work (in values touched) below which a
// kernel stays on the calling goroutine: below it, waking another core costs
// more than it saves. Measured on the 784-176-42-10 epoch at 2 threads
// (Sapphire Rapids, three interleaved rounds): 1<<17 0.37 s, 1<<15 0.26,
// 1<<13 0.25, 1<<12 and 1<<11 0.25-0.26 — the optimizer's updates of the
// smaller layers and their gradients' GEMMs now share the work.
const minParallel = 1 << 13

// kernelArgs carries a kernel's operands to the goroutines that run its
// chunks. A Backend owns one and kernels overwrite it, so that launching a
// kernel allocates nothing: closures would escape to the heap on every call.
type kernelArgs struct {
	x, y, z, w, v []float32
	alpha, beta   float32
	act           backend.Activation
	log           bool
	rows, cols    int
	off           int
	dist          backend.Distribution
	seed, offset  uint64
	partial       []float64 // SumSquares: one sum per fixed chunk
	sgd           backend.SGDStep
	adam          backend.AdamStep
	gemm          gemmArgs
	impl          blas.Float32Level3
	gemmWS        []*gemm.Workspace
	gemmEp        []*gemmEpilogue
	geom          backend.ConvGeom // convolution and pooling
	oh, ow        int              // geom's output size
	eps           float32          // batch norm
	batchStats    bool
	mean, vari    []float32
	gamma         []float32
	dgamma, dbeta []float32
}

// rangeFunc runs a kernel on the index range [lo, hi).
type rangeFunc func(a *kernelArgs, lo, hi int)

// workers is a pool of goroutines that help the calling goroutine run a
// kernel's chunks, started on the first parallel kernel and stopped by
// Close.
//
// A kernel is split into more chunks than there are cores, and every
// goroutine, the caller included, claims the next unclaimed chunk until
// none is left: on a machine shared with other programs, a worker the
// operating system has descheduled then leaves its chunks to the others
// instead of holding the whole kernel up, and the caller waits only for
// chunks already claimed. A claim is a compare-and-swap on one word that
// holds the kernel's generation, its number of chunks and the next chunk,
// so a worker that wakes late either claims a chunk of the kernel that is
// running now, whose arguments it reads only after the claim, or finds
// nothing left.
//
// Kernels in a training step are short (tens of µs) and come in quick
// succession, so an idle worker polls for work for a while (spinPolls,
// about half a millisecond) before it parks, and the caller polls for the
// end of the kernel instead of sleeping on a WaitGroup: waking a parked
// thread costs more than many of these kernels take (OpenMP runtimes do
// the same). A worker parks once the kernels stop.
type workers struct {
	wake chan struct{} // one token per worker that may find work
	n    int

	word       atomic.Uint64 // generation<<40 | chunks<<20 | next chunk
	done       atomic.Int64  // chunks of the current kernel finished
	fn         rangeFunc     // the current kernel, valid to a chunk's claimant
	a          *kernelArgs
	size, span int // values per chunk; the kernel's range [0, span)
}

const (
	spinPolls = 1 << 14
	// maxChunks bounds a kernel's chunks (20 bits of workers.word).
	maxChunks = 1<<20 - 1
	// chunksPerCore is how many chunks a kernel gets per core, where its
	// size allows: enough that a descheduled worker costs at most a few
	// chunks, few enough that claims stay rare.
	chunksPerCore = 4
)

func (w *workers) start(n int) {
	w.wake, w.n = make(chan struct{}, n), n
	for i := 0; i < n; i++ {
		go work(w, w.wake)
	}
}

func work(w *workers, wake <-chan struct{}) {
	for {
		ok, got := false, false
		for i := 0; i < spinPolls && !got; i++ {
			select {
			case _, ok = <-wake:
				got = true
			default:
			}
		}
		if !got {
			_, ok = <-wake
		}
		if !ok {
			return
		}
		w.help()
	}
}

// claim takes the next chunk of the kernel now running, if one is left.
func (w *workers) claim() (int, bool) {
	for {
		word := w.word.Load()
		chunks, next := int(word>>20&maxChunks), int(word&maxChunks)
		if next >= chunks {
			return 0, false
		}
		if w.word.CompareAndSwap(word, word+1) {
			return next, true
		}
	}
}

// help runs chunks of the current kernel until none is left.
func (w *workers) help() {
	for {
		i, ok := w.claim()
		if !ok {
			return
		}
		lo := i * w.size
		w.fn(w.a, lo, min(lo+w.size, w.span))
		w.done.Add(1)
	}
}

func (w *workers) stop() {
	if w.wake != nil {
		close(w.wake)
		w.wake, w.n = nil, 0
	}
}

// run calls fn over [0, n) with the backend's kernel arguments. When
// n·cost is at least minParallel it splits the range into chunks shared
// with the worker pool (see workers). Chunks never share an output
// element, so results do not depend on the split.
func (c *Backend) run(n, cost int, fn rangeFunc) {
	parts := runtime.GOMAXPROCS(0)
	if w := n * cost / minParallel; w < parts {
		parts = w
	}
	parts = min(parts, n)
	if parts <= 1 {
		fn(&c.args, 0, n)
		return
	}
	w := &c.pool
	if w.n < parts-1 {
		w.stop()
		w.start(parts - 1)
	}
	chunks := min(n, maxChunks, parts*chunksPerCore, max(parts, n*cost/minParallel))
	size := (n + chunks - 1) / chunks
	chunks = (n + size - 1) / size
	gen := w.word.Load()>>40 + 1
	w.fn, w.a, w.size, w.span = fn, &c.args, size, n
	w.done.Store(0)
	w.word.Store(gen<<40 | uint64(chunks)<<20)
	for i := 0; i < parts-1; i++ {
		select {
		case w.wake <- struct{}{}:
		default: // every worker already has a token
		}
	}
	w.help()
	for i := 0; w.done.Load() != int64(chunks); i++ {
		if i >= spinPolls {
			runtime.Gosched() // a worker may need this P to finish
		}
	}
}
