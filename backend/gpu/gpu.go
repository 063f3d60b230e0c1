// Package gpu implements backend.Backend for devices that run the kernels
// of package kernels — OpenCL and CUDA — on top of a small Device interface
// that each of them provides: an allocator, copies, and a kernel launcher.
//
// Everything that does not depend on the API lives here once: operand
// checks, sticky errors, the caching allocator, the scratch buffer of
// reductions, the flag that kernels raise on bad input, and the mapping of
// every backend operation to its kernel and launch shape. As in tinygrad's
// runtimes, the two device files are then nearly isomorphic.
package gpu

import (
	"fmt"
	"math"
	"os"
	"time"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/kernels"
)

// Mem is a device allocation, opaque to this package.
type Mem any

// Device is what a GPU API must provide.
type Device interface {
	// Name is the registry name ("opencl", "cuda"); Describe names the
	// hardware.
	Name() string
	Describe() string
	Alloc(bytes int) (Mem, error)
	Release(m Mem)
	// Write and Read copy between host and device and return when done;
	// Read waits for all earlier work.
	Write(dst Mem, src []float32) error
	Read(dst []float32, src Mem) error
	Copy(dst, src Mem, bytes int) error
	// Launch runs a kernel on grid[0]×grid[1] blocks of block[0]×block[1]
	// threads (CUDA's terms; an OpenCL global size is their product). Each
	// argument is an int or bool (passed as a 32-bit int), a float32, or a
	// Mem.
	Launch(kernel string, grid, block [2]int, args []any) error
	// Finish waits for all launched work.
	Finish() error
	Close() error
}

// buffer is device memory.
type buffer struct {
	mem   Mem
	n     int
	owner *Backend
	freed bool
}

func (b *buffer) Len() int { return b.n }

// Backend is a backend.Backend on a Device.
type Backend struct {
	dev     Device
	err     error
	stats   backend.MemStats
	closed  bool
	cache   map[int][]Mem // freed allocations by size, for reuse
	scratch *buffer       // per-element terms of reductions
	errflag *buffer       // kernels write a code here on bad input
	flagged bool          // a kernel that may write errflag ran since the last check
	dummy   *buffer       // passed for unused buffer arguments
	args    []any         // reused argument list

	gemmMode   string  // DIYNN_GPU_GEMM: "" (by shape), tile, big, pipe or split
	gemmPart   *buffer // split-K partial sums
	processors int     // multiprocessors (compute units) of the device

	cap capture // captured steps (graph.go)
}

// DeviceTimer is implemented by devices that can time work on the device
// itself (CUDA events): fn launches work; the result is the device time
// from before its first kernel to after its last.
type DeviceTimer interface {
	TimeDevice(fn func() error) (time.Duration, error)
}

// TimeDevice runs fn, which issues backend operations, and returns the time
// the device spent between the first and the last, measured on the device.
// It fails on devices without a timer (OpenCL here).
func (b *Backend) TimeDevice(fn func()) (time.Duration, error) {
	t, ok := b.dev.(DeviceTimer)
	if !ok {
		return 0, fmt.Errorf("%s: no device timer", b.dev.Name())
	}
	if !b.ok() {
		return 0, b.err
	}
	b.flush("TimeDevice")
	d, err := t.TimeDevice(func() error { fn(); return b.err })
	if err != nil {
		b.check("TimeDevice", err)
		return 0, b.err
	}
	return d, nil
}

// Processors is implemented by devices that can count their
// multiprocessors (CUDA) or compute units (OpenCL); the GEMM dispatch
// sizes its work to them.
type Processors interface{ Processors() int }

// New wraps a device.
func New(dev Device) (*Backend, error) {
	b := &Backend{dev: dev, cache: map[int][]Mem{}, processors: 1}
	if p, ok := dev.(Processors); ok {
		b.processors = max(1, p.Processors())
	}
	switch b.gemmMode = os.Getenv("DIYNN_GPU_GEMM"); b.gemmMode {
	case "", "tile", "big", "pipe", "split":
	default:
		dev.Close()
		return nil, fmt.Errorf("DIYNN_GPU_GEMM=%q: want tile, big, pipe or split", b.gemmMode)
	}
	var err error
	if b.cap.dev, err = graphDevice(dev); err != nil {
		dev.Close()
		return nil, err
	}
	b.errflag = b.Alloc(4).(*buffer)
	b.dummy = b.Alloc(1).(*buffer)
	b.Fill(4, 0, b.errflag)
	b.stats = backend.MemStats{} // internal buffers are not the caller's
	if err := b.Sync(); err != nil {
		return nil, err
	}
	return b, nil
}

// Name returns the device's registry name.
func (b *Backend) Name() string { return b.dev.Name() }

// Device describes the hardware.
func (b *Backend) Device() string { return b.dev.Describe() }

func (b *Backend) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(b.dev.Name()+": "+format, args...)
	}
}

// check records err, from the device API, as the sticky error.
func (b *Backend) check(op string, err error) {
	if err != nil {
		b.fail("%s: %v", op, err)
	}
}

func (b *Backend) ok() bool {
	if b.closed && b.err == nil {
		b.err = backend.ErrClosed
	}
	return b.err == nil
}

// Owner reports the backend that allocated x and whether it was freed
// (backend.Owned).
func (x *buffer) Owner() (any, bool) {
	if x == nil {
		return nil, false
	}
	return x.owner, x.freed
}

// buf checks that x can serve as an operand of n values
// (backend.CheckOperand).
func (b *Backend) buf(x backend.Buffer, n int, op, what string) *buffer {
	if b.err != nil {
		return nil
	}
	gb, err := backend.CheckOperand[*buffer](x, b, n, op, what)
	if err != nil {
		b.fail("%w", err)
		return nil
	}
	return gb
}

// Alloc returns a buffer of n values. Freed allocations of the same size
// are reused (a caching allocator): layers keep their buffers, so training
// allocates nothing after its first step, and code that frees and
// reallocates per batch pays no driver allocation either.
func (b *Backend) Alloc(n int) backend.Buffer {
	if n < 0 {
		b.fail("Alloc: negative size %d", n)
		n = 0
	}
	if n > math.MaxInt32 {
		// The kernels index with 32-bit ints.
		b.fail("Alloc: %d values is more than the kernels can index (%d)", n, math.MaxInt32)
		n = 0
	}
	b.stats.Allocs++
	b.stats.LiveBytes += int64(n) * 4
	if ms := b.cache[n]; len(ms) > 0 {
		m := ms[len(ms)-1]
		b.cache[n] = ms[:len(ms)-1]
		return &buffer{mem: m, n: n, owner: b}
	}
	// Devices refuse empty allocations; one value stands in for n = 0.
	m, err := b.dev.Alloc(4 * max(n, 1))
	if err != nil {
		b.fail("Alloc(%d): %v", n, err)
		return &buffer{owner: b, freed: true}
	}
	return &buffer{mem: m, n: n, owner: b}
}

// Free returns a buffer's memory to the cache.
func (b *Backend) Free(x backend.Buffer) {
	gb, ok := x.(*buffer)
	if !ok || gb == nil || gb.owner != b || gb.freed {
		b.fail("Free: buffer is nil, foreign or already freed")
		return
	}
	gb.freed = true
	b.cache[gb.n] = append(b.cache[gb.n], gb.mem)
	gb.mem = nil
	b.stats.Frees++
	b.stats.LiveBytes -= int64(gb.n) * 4
}

// Upload copies src into the start of dst.
func (b *Backend) Upload(dst backend.Buffer, src []float32) {
	if !b.ok() {
		return
	}
	b.flush("Upload")
	if d := b.buf(dst, len(src), "Upload", "dst"); d != nil && len(src) > 0 {
		b.check("Upload", b.dev.Write(d.mem, src))
	}
}

// Download copies the start of src to dst after all earlier work.
func (b *Backend) Download(dst []float32, src backend.Buffer) error {
	if !b.ok() {
		return b.err
	}
	b.flush("Download")
	if s := b.buf(src, len(dst), "Download", "src"); s != nil && len(dst) > 0 {
		b.check("Download", b.dev.Read(dst, s.mem))
	}
	b.checkFlag()
	return b.err
}

// checkFlag turns an error code written by a kernel into the sticky error.
func (b *Backend) checkFlag() {
	if !b.flagged || b.err != nil {
		return
	}
	b.flagged = false
	var f [4]float32
	if err := b.dev.Read(f[:], b.errflag.mem); err != nil {
		b.fail("reading the error flag: %v", err)
		return
	}
	switch f[0] {
	case kernels.ErrNone:
	case kernels.ErrLabel:
		b.fail("CrossEntropy: label %v of row %d is not a class index", f[1], int(f[2]))
	case kernels.ErrRowIndex:
		b.fail("GatherRows: index %v at %d is not a row of the source", f[1], int(f[2]))
	default:
		b.fail("kernel error code %v", f[0])
	}
}

// Copy copies n values.
func (b *Backend) Copy(n int, src, dst backend.Buffer) {
	if !b.ok() {
		return
	}
	s, d := b.buf(src, n, "Copy", "src"), b.buf(dst, n, "Copy", "dst")
	if b.err == nil && n > 0 {
		b.flush("Copy")
		b.check("Copy", b.dev.Copy(d.mem, s.mem, 4*n))
	}
}

// signatures are the kernels' parameter lists, parsed from nn.kern.
var signatures = kernels.Signatures()

// launch runs a kernel after the operand checks, unless an error is set.
// Buffers in args are replaced by their device memory. The launch is
// checked against the kernel's signature in nn.kern first (name, argument
// count, and each argument's kind: int or bool for `const int`, float32
// for `const float`, a buffer for `GLOBAL float*`), so that a mistake is a
// sticky error naming the kernel, never a call the driver misreads.
func (b *Backend) launch(name string, grid, block [2]int, args ...any) {
	if b.err != nil {
		return
	}
	if err := checkLaunch(name, args); err != nil {
		b.fail("%w", err)
		return
	}
	if b.cap.mode != eager {
		b.logLaunch(name, grid, block, args)
		return
	}
	b.args = b.args[:0]
	for _, a := range args {
		if gb, ok := a.(*buffer); ok {
			a = gb.mem
		}
		b.args = append(b.args, a)
	}
	b.check(name, b.dev.Launch(name, grid, block, b.args))
}

func withArticle(k kernels.ParamKind) string {
	if k == kernels.Int {
		return "an int"
	}
	return "a " + k.String()
}

// checkLaunch compares a launch's arguments with its kernel's signature.
func checkLaunch(name string, args []any) error {
	params, ok := signatures[name]
	if !ok {
		return fmt.Errorf("launch: no kernel %q in nn.kern", name)
	}
	if len(args) != len(params) {
		return fmt.Errorf("launch %s: %d arguments, the kernel takes %d", name, len(args), len(params))
	}
	for i, a := range args {
		var kind kernels.ParamKind
		switch a.(type) {
		case int, bool:
			kind = kernels.Int
		case float32:
			kind = kernels.Float
		case *buffer:
			kind = kernels.Buffer
		default:
			return fmt.Errorf("launch %s: argument %d (%s) is a %T, not an int, bool, float32 or buffer", name, i, params[i].Name, a)
		}
		if kind != params[i].Kind {
			return fmt.Errorf("launch %s: argument %d (%s) is %s, the kernel takes %s", name, i, params[i].Name, withArticle(kind), withArticle(params[i].Kind))
		}
	}
	return nil
}

// launch1D runs a kernel over n threads in blocks of 256.
func (b *Backend) launch1D(name string, n int, args ...any) {
	if n > 0 {
		b.launch(name, [2]int{(n + 255) / 256, 1}, [2]int{256, 1}, args...)
	}
}

// MemStats reports buffer allocations.
func (b *Backend) MemStats() backend.MemStats { return b.stats }

// Err returns the sticky error without waiting.
func (b *Backend) Err() error { return b.err }

// Sync waits for the device and returns the sticky error.
func (b *Backend) Sync() error {
	if !b.ok() {
		return b.err
	}
	b.flush("Sync")
	b.check("Sync", b.dev.Finish())
	b.checkFlag()
	return b.err
}

// Close releases the device.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.flush("Close")
	b.cap = capture{}
	b.closed = true
	b.dev.Finish()
	for _, x := range []*buffer{b.scratch, b.gemmPart, b.errflag, b.dummy} {
		if x != nil && !x.freed {
			b.Free(x)
		}
	}
	for _, ms := range b.cache {
		for _, m := range ms {
			b.dev.Release(m)
		}
	}
	b.cache = nil
	return b.dev.Close()
}
