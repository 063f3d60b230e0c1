//go:build opencl

// Package opencl runs diynn's kernels on any OpenCL 1.2 device through
// github.com/jgillich/go-opencl: a GPU driver's, or PoCL's on the CPU (which
// is how CI, with no GPU, runs the same kernels the CUDA backend runs).
//
// The device is the one named by DIYNN_OPENCL_DEVICE (an index in the list
// that `diynn backends` prints, or a substring of the device name), else the
// first GPU, else the first device. It registers itself as "opencl"; for
// "auto" it offers only GPUs, since the cpu backend beats OpenCL on a CPU.
package opencl

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/kernels"
	"github.com/jgillich/go-opencl/cl"
)

func init() {
	backend.Register(backend.Driver{
		Name: "opencl", Rank: 20,
		Open:     func() (backend.Backend, error) { return Open(false) },
		OpenAuto: func() (backend.Backend, error) { return Open(true) },
		Devices:  Devices,
	})
}

// device is an OpenCL device with its context and compiled program, shared
// by every Backend opened on it: building the program takes seconds on
// PoCL, so it happens once per process and device.
type device struct {
	dev  *cl.Device
	ctx  *cl.Context
	prog *cl.Program
	desc string
}

var (
	devicesMu sync.Mutex
	devices   = map[string]*device{} // by platform/device index; a registry of contexts
)

const icdHelp = "no OpenCL platform found (error -1001): install a GPU driver's OpenCL ICD, " +
	"or PoCL for the CPU (Debian/Ubuntu: apt-get install pocl-opencl-icd)"

// listDevices returns every OpenCL device, in platform order.
func listDevices() ([]*cl.Device, error) {
	platforms, err := cl.GetPlatforms()
	if err != nil || len(platforms) == 0 {
		if err != nil && !strings.Contains(err.Error(), "-1001") && !strings.Contains(err.Error(), "Platform") {
			return nil, fmt.Errorf("%s (%v)", icdHelp, err)
		}
		return nil, errors.New(icdHelp)
	}
	var all []*cl.Device
	for _, p := range platforms {
		ds, err := p.GetDevices(cl.DeviceTypeAll)
		if err != nil {
			continue
		}
		all = append(all, ds...)
	}
	if len(all) == 0 {
		return nil, errors.New("OpenCL platforms found but no devices")
	}
	return all, nil
}

// Devices describes every OpenCL device, for `diynn backends`.
func Devices() ([]string, error) {
	ds, err := listDevices()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = fmt.Sprintf("%d: %s (%s, %s)", i, strings.TrimSpace(d.Name()), d.Type(), strings.TrimSpace(d.Version()))
	}
	return out, nil
}

// choose picks the device: DIYNN_OPENCL_DEVICE, else the first GPU, else
// (unless gpuOnly) the first device.
func choose(gpuOnly bool) (int, *cl.Device, error) {
	ds, err := listDevices()
	if err != nil {
		return 0, nil, err
	}
	if sel := os.Getenv("DIYNN_OPENCL_DEVICE"); sel != "" {
		if i, err := strconv.Atoi(sel); err == nil {
			if i < 0 || i >= len(ds) {
				return 0, nil, fmt.Errorf("DIYNN_OPENCL_DEVICE=%d: there are %d devices", i, len(ds))
			}
			return i, ds[i], nil
		}
		for i, d := range ds {
			if strings.Contains(strings.ToLower(d.Name()), strings.ToLower(sel)) {
				return i, d, nil
			}
		}
		return 0, nil, fmt.Errorf("DIYNN_OPENCL_DEVICE=%q matches no device name", sel)
	}
	for i, d := range ds {
		if d.Type() == cl.DeviceTypeGPU {
			return i, d, nil
		}
	}
	if gpuOnly {
		return 0, nil, fmt.Errorf("no OpenCL GPU (only %s): the cpu backend is faster on a CPU", strings.TrimSpace(ds[0].Name()))
	}
	return 0, ds[0], nil
}

func openDevice(i int, d *cl.Device) (*device, error) {
	devicesMu.Lock()
	defer devicesMu.Unlock()
	key := strconv.Itoa(i)
	if dv, ok := devices[key]; ok {
		return dv, nil
	}
	ctx, err := cl.CreateContext([]*cl.Device{d})
	if err != nil {
		return nil, fmt.Errorf("creating an OpenCL context on %s: %w", d.Name(), err)
	}
	prog, err := build(ctx, d, kernels.OpenCL())
	if err != nil {
		return nil, err
	}
	dv := &device{dev: d, ctx: ctx, prog: prog,
		desc: fmt.Sprintf("%s (%s, %s)", strings.TrimSpace(d.Name()), d.Type(), strings.TrimSpace(d.Version()))}
	devices[key] = dv
	return dv, nil
}

// build compiles an OpenCL program for d. On failure the error carries the
// compiler's whole log.
func build(ctx *cl.Context, d *cl.Device, src string) (*cl.Program, error) {
	prog, err := ctx.CreateProgramWithSource([]string{src})
	if err != nil {
		return nil, fmt.Errorf("creating the OpenCL program: %w", err)
	}
	if err := prog.BuildProgram([]*cl.Device{d}, "-cl-std=CL1.2"); err != nil {
		return nil, fmt.Errorf("building the kernels for %s: %w", strings.TrimSpace(d.Name()), err)
	}
	return prog, nil
}

// buffer is device memory.
type buffer struct {
	mem   *cl.MemObject
	n     int
	owner *Backend
	freed bool
}

func (b *buffer) Len() int { return b.n }

// Backend runs kernels on one OpenCL device through one in-order queue.
type Backend struct {
	dev     *device
	queue   *cl.CommandQueue
	kernels map[string]*cl.Kernel
	err     error
	stats   backend.MemStats
	closed  bool
	scratch *buffer // per-element loss terms for reductions
	errflag *buffer // written by kernels that find bad indices
	flagged bool    // a kernel that may write errflag ran since the last check
	dummy   *buffer // stands in for optional buffers
}

// Open opens the chosen device (see the package documentation); gpuOnly
// refuses CPU devices.
func Open(gpuOnly bool) (*Backend, error) {
	i, d, err := choose(gpuOnly)
	if err != nil {
		return nil, err
	}
	dv, err := openDevice(i, d)
	if err != nil {
		return nil, err
	}
	q, err := dv.ctx.CreateCommandQueue(d, 0)
	if err != nil {
		return nil, fmt.Errorf("creating a command queue: %w", err)
	}
	b := &Backend{dev: dv, queue: q, kernels: map[string]*cl.Kernel{}}
	for _, name := range kernels.Names {
		k, err := dv.prog.CreateKernel(name)
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w", name, err)
		}
		b.kernels[name] = k
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

// Name returns "opencl".
func (b *Backend) Name() string { return "opencl" }

// Device describes the OpenCL device.
func (b *Backend) Device() string { return b.dev.desc }

func (b *Backend) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("opencl: "+format, args...)
	}
}

func (b *Backend) ok() bool {
	if b.closed && b.err == nil {
		b.err = backend.ErrClosed
	}
	return b.err == nil
}

// buf checks that x can serve as an operand of n values.
func (b *Backend) buf(x backend.Buffer, n int, op, what string) *buffer {
	if b.err != nil {
		return nil
	}
	cb, isCL := x.(*buffer)
	switch {
	case x == nil || (isCL && cb == nil):
		b.fail("%s: %s is nil", op, what)
	case !isCL || cb.owner != b:
		b.fail("%s: %s belongs to another backend", op, what)
	case cb.freed:
		b.fail("%s: %s used after Free", op, what)
	case n < 0:
		b.fail("%s: negative size %d for %s", op, n, what)
	case n > cb.n:
		b.fail("%s: %s holds %d values, need %d", op, what, cb.n, n)
	default:
		return cb
	}
	return nil
}

// Alloc returns a buffer of n values.
func (b *Backend) Alloc(n int) backend.Buffer {
	if n < 0 {
		b.fail("Alloc: negative size %d", n)
		n = 0
	}
	// OpenCL refuses empty buffers; a 1-value one stands in for n = 0.
	mem, err := b.dev.ctx.CreateEmptyBuffer(cl.MemReadWrite, 4*max(n, 1))
	if err != nil {
		b.fail("Alloc(%d): %v", n, err)
		return &buffer{owner: b, freed: true}
	}
	b.stats.Allocs++
	b.stats.LiveBytes += int64(n) * 4
	return &buffer{mem: mem, n: n, owner: b}
}

// Free releases a buffer.
func (b *Backend) Free(x backend.Buffer) {
	cb, ok := x.(*buffer)
	if !ok || cb == nil || cb.owner != b || cb.freed {
		b.fail("Free: buffer is nil, foreign or already freed")
		return
	}
	cb.freed = true
	if cb.mem != nil {
		cb.mem.Release()
		cb.mem = nil
	}
	b.stats.Frees++
	b.stats.LiveBytes -= int64(cb.n) * 4
}

// Upload copies src into the start of dst.
func (b *Backend) Upload(dst backend.Buffer, src []float32) {
	if !b.ok() {
		return
	}
	d := b.buf(dst, len(src), "Upload", "dst")
	if d == nil || len(src) == 0 {
		return
	}
	// Blocking, so that the caller may reuse src at once.
	if ev, err := b.queue.EnqueueWriteBuffer(d.mem, true, 0, 4*len(src), unsafe.Pointer(&src[0]), nil); err != nil {
		b.fail("Upload: %v", err)
	} else if ev != nil {
		ev.Release()
	}
}

// Download copies the start of src to dst after all earlier work.
func (b *Backend) Download(dst []float32, src backend.Buffer) error {
	if !b.ok() {
		return b.err
	}
	s := b.buf(src, len(dst), "Download", "src")
	if s == nil {
		return b.err
	}
	if len(dst) > 0 {
		if ev, err := b.queue.EnqueueReadBuffer(s.mem, true, 0, 4*len(dst), unsafe.Pointer(&dst[0]), nil); err != nil {
			b.fail("Download: %v", err)
		} else if ev != nil {
			ev.Release()
		}
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
	if ev, err := b.queue.EnqueueReadBuffer(b.errflag.mem, true, 0, 16, unsafe.Pointer(&f[0]), nil); err != nil {
		b.fail("reading the error flag: %v", err)
		return
	} else if ev != nil {
		ev.Release()
	}
	switch f[0] {
	case 0:
		return
	case 1:
		b.fail("CrossEntropy: label %v of row %d is not a class index", f[1], int(f[2]))
	case 2:
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
	if b.err != nil || n == 0 {
		return
	}
	if ev, err := b.queue.EnqueueCopyBuffer(s.mem, d.mem, 0, 0, 4*n, nil); err != nil {
		b.fail("Copy: %v", err)
	} else if ev != nil {
		ev.Release()
	}
}

// launch runs a kernel over n work-items (rounded up to whole work-groups
// of 64) after setting its arguments: ints go as int32, buffers as memory
// objects.
func (b *Backend) launch(name string, n int, args ...any) {
	if b.err != nil || n <= 0 {
		return
	}
	k := b.kernels[name]
	if err := b.setArgs(k, args); err != nil {
		b.fail("%s: %v", name, err)
		return
	}
	const group = 64
	global := (n + group - 1) / group * group
	if ev, err := b.queue.EnqueueNDRangeKernel(k, nil, []int{global}, []int{group}, nil); err != nil {
		b.fail("%s: %v", name, err)
	} else if ev != nil {
		ev.Release()
	}
}

func (b *Backend) setArgs(k *cl.Kernel, args []any) error {
	for i, a := range args {
		var err error
		switch v := a.(type) {
		case int:
			if v > math.MaxInt32 || v < math.MinInt32 {
				return fmt.Errorf("argument %d: %d does not fit a 32-bit int", i, v)
			}
			err = k.SetArgInt32(i, int32(v))
		case bool:
			var x int32
			if v {
				x = 1
			}
			err = k.SetArgInt32(i, x)
		case float32:
			err = k.SetArgFloat32(i, v)
		case *buffer:
			err = k.SetArgBuffer(i, v.mem)
		default:
			return fmt.Errorf("argument %d has unsupported type %T", i, a)
		}
		if err != nil {
			return fmt.Errorf("argument %d: %w", i, err)
		}
	}
	return nil
}

// Fill sets n values to v.
func (b *Backend) Fill(n int, v float32, dst backend.Buffer) {
	if !b.ok() {
		return
	}
	if d := b.buf(dst, n, "Fill", "dst"); d != nil {
		b.launch("fill", n, n, v, d)
	}
}

// MemStats reports buffer allocations.
func (b *Backend) MemStats() backend.MemStats { return b.stats }

// Err returns the sticky error without waiting.
func (b *Backend) Err() error { return b.err }

// Sync waits for the queue and returns the sticky error.
func (b *Backend) Sync() error {
	if !b.ok() {
		return b.err
	}
	if err := b.queue.Finish(); err != nil {
		b.fail("Sync: %v", err)
	}
	b.checkFlag()
	return b.err
}

// Close releases the queue and kernels; the shared context stays for
// other backends on the device.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.queue != nil {
		b.queue.Finish()
		for _, k := range b.kernels {
			k.Release()
		}
		for _, x := range []*buffer{b.scratch, b.errflag, b.dummy} {
			if x != nil && x.mem != nil {
				x.mem.Release()
			}
		}
		b.queue.Release()
	}
	return nil
}
