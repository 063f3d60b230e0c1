//go:build cuda

// Package cuda runs diynn's kernels on NVIDIA GPUs through the CUDA driver
// API (gorgonia.org/cu): one context, made current on the calling
// goroutine's OS thread for each call (locked to it for the call's length;
// see device for why not a context-owning goroutine), the kernels loaded
// from the PTX that `go generate ./kernels` builds from the same source the
// OpenCL backend compiles, every launch on one stream, and CUDA events to
// time work on the device. GPU memory goes through package gpu's caching
// allocator.
//
// gorgonia.org/cu calls cuInit in its package initialiser and exits the
// process when no CUDA driver is present, so a binary built with -tags cuda
// runs only on a machine with an NVIDIA driver.
//
// This file is the device layer only — allocation, copies, launches; the
// operations live in package gpu, shared with the OpenCL backend.
package cuda

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/gpu"
	"github.com/diynn/diynn/kernels"
	"gorgonia.org/cu"
)

func init() {
	backend.Register(backend.Driver{Name: "cuda", Rank: 30, Open: func() (backend.Backend, error) { return Open() }})
}

// device implements gpu.Device on one CUDA context.
type device struct {
	// ctx is nil in the default, direct mode: each call locks its goroutine
	// to its OS thread, makes the context current there (a thread-local
	// store in the driver) and calls the driver. With DIYNN_CUDA_CTX=thread
	// every call is instead handed to gorgonia.org/cu's Ctx, a goroutine
	// locked to one OS thread; that costs two channel hand-offs per call:
	// on an H200 host a back-to-back 128×10×42 product took 16-25 µs that
	// way against 5 µs direct, and an epoch of the benchmark network 0.30-
	// 0.41 s against 0.07-0.09 (docs/BENCHMARKS.md): small networks are
	// launch-bound.
	ctx  *cu.Ctx
	cuc  cu.CUContext
	mod  cu.Module
	fns  map[string]cu.Function
	name string
	sms  int
	// start and stop time work on the device (TimeDevice).
	start, stop cu.Event
	// Kernel arguments. gorgonia.org/cu copies 8 bytes from every argument
	// pointer, whatever the parameter's size, so each argument lives in an
	// 8-byte slot: a pointer fills it, an int or a float occupies its low 4
	// bytes (the driver reads only as many bytes as the parameter has, and
	// on little-endian hosts the low bytes come first). Pointing at a 4-byte
	// Go variable instead would make the copy read past it.
	slots  [kernels.MaxArgs]uint64
	params [kernels.MaxArgs]unsafe.Pointer
}

// do runs fn with the context current on the calling OS thread.
func (d *device) do(fn func() error) error {
	if d.ctx != nil {
		return d.ctx.Do(fn)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(d.cuc); err != nil {
		return err
	}
	return fn()
}

// Open opens the GPU named by DIYNN_CUDA_DEVICE (an ordinal), else GPU 0.
func Open() (b *gpu.Backend, err error) {
	// gorgonia.org/cu panics when it cannot create a context; report that
	// as an error, so that Open("auto") moves on to the next backend.
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("creating a CUDA context: %v", r)
		}
	}()
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("counting CUDA devices: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("no CUDA device")
	}
	ord := 0
	if s := os.Getenv("DIYNN_CUDA_DEVICE"); s != "" {
		if ord, err = strconv.Atoi(s); err != nil || ord < 0 || ord >= n {
			return nil, fmt.Errorf("DIYNN_CUDA_DEVICE=%q: want an ordinal below %d", s, n)
		}
	}
	dev, err := cu.GetDevice(ord)
	if err != nil {
		return nil, err
	}
	name, err := dev.Name()
	if err != nil {
		return nil, err
	}
	sms, err := dev.Attribute(cu.MultiprocessorCount)
	if err != nil {
		return nil, err
	}
	d := &device{name: name, sms: sms, fns: map[string]cu.Function{}}
	switch mode := os.Getenv("DIYNN_CUDA_CTX"); mode {
	case "", "direct":
		if err := func() error {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			d.cuc, err = dev.MakeContext(cu.SchedAuto)
			return err
		}(); err != nil {
			return nil, fmt.Errorf("creating a CUDA context: %w", err)
		}
	case "thread":
		// NewContext starts a goroutine locked to an OS thread that owns
		// the context; every call goes through it.
		d.ctx = cu.NewContext(dev, cu.SchedAuto)
		d.cuc = d.ctx.CUContext
	default:
		return nil, fmt.Errorf("DIYNN_CUDA_CTX=%q: want direct or thread", mode)
	}
	for i := range d.params {
		d.params[i] = unsafe.Pointer(&d.slots[i])
	}
	if err := d.do(func() error {
		mod, err := cu.LoadData(kernels.PTX())
		if err != nil {
			return fmt.Errorf("loading the PTX: %w", err)
		}
		d.mod = mod
		if d.start, err = cu.MakeEvent(cu.DefaultEvent); err != nil {
			return fmt.Errorf("creating an event: %w", err)
		}
		if d.stop, err = cu.MakeEvent(cu.DefaultEvent); err != nil {
			return fmt.Errorf("creating an event: %w", err)
		}
		for _, k := range kernels.Names() {
			if d.fns[k], err = mod.Function(k); err != nil {
				return fmt.Errorf("kernel %s: %w", k, err)
			}
		}
		return nil
	}); err != nil {
		d.Close()
		return nil, err
	}
	return gpu.New(d)
}

func (d *device) Name() string     { return "cuda" }
func (d *device) Describe() string { return d.name }

// Processors is the number of streaming multiprocessors, which the GEMM
// dispatch uses to judge whether a tile size fills the card.
func (d *device) Processors() int { return d.sms }

// Memory reports the free and total memory of the device from
// cuMemGetInfo (gpu.MemoryInfo); free already excludes this context's
// own allocations and other processes'.
func (d *device) Memory() (backend.Memory, error) {
	var free, total int64
	if err := d.do(func() (err error) {
		free, total, err = cu.MemInfo()
		return err
	}); err != nil {
		return backend.Memory{}, err
	}
	return backend.Memory{Total: total, Available: free}, nil
}

func (d *device) Alloc(bytes int) (m gpu.Mem, err error) {
	err = d.do(func() (err error) {
		m, err = cu.MemAlloc(int64(bytes))
		return err
	})
	return m, err
}

func (d *device) Release(m gpu.Mem) {
	d.do(func() error { return cu.MemFree(m.(cu.DevicePtr)) })
}

func (d *device) Write(dst gpu.Mem, src []float32) error {
	return d.do(func() error {
		return cu.MemcpyHtoD(dst.(cu.DevicePtr), unsafe.Pointer(&src[0]), int64(4*len(src)))
	})
}

func (d *device) Read(dst []float32, src gpu.Mem) error {
	return d.do(func() error {
		return cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), src.(cu.DevicePtr), int64(4*len(dst)))
	})
}

func (d *device) Copy(dst, src gpu.Mem, bytes int) error {
	return d.do(func() error {
		return cu.MemcpyDtoD(dst.(cu.DevicePtr), src.(cu.DevicePtr), int64(bytes))
	})
}

func (d *device) Launch(name string, grid, block [2]int, args []any) error {
	if len(args) > len(d.slots) {
		return fmt.Errorf("%d arguments, at most %d", len(args), len(d.slots))
	}
	for i, a := range args {
		var err error
		if d.slots[i], err = argSlot(i, a); err != nil {
			return err
		}
	}
	fn, params := d.fns[name], d.params[:len(args)]
	return d.do(func() error {
		return fn.Launch(grid[0], grid[1], 1, block[0], block[1], 1, 0, cu.Stream{}, params)
	})
}

func (d *device) Finish() error {
	return d.do(cu.Synchronize)
}

// TimeDevice runs fn, which launches work, between two events recorded on
// the stream and returns the device time between them: the kernels' time
// without the host's, where the device is kept busy.
func (d *device) TimeDevice(fn func() error) (time.Duration, error) {
	if err := d.do(func() error { return d.start.Record(cu.Stream{}) }); err != nil {
		return 0, err
	}
	// fn launches through d.do itself; with DIYNN_CUDA_CTX=thread a call
	// inside another would wait for itself.
	if err := fn(); err != nil {
		return 0, err
	}
	var ms float64
	err := d.do(func() (err error) {
		if err = d.stop.Record(cu.Stream{}); err != nil {
			return err
		}
		if err = d.stop.Synchronize(); err != nil {
			return err
		}
		ms, err = d.start.Elapsed(d.stop)
		return err
	})
	return time.Duration(ms * float64(time.Millisecond)), err
}

// Close destroys the context and with it all device memory.
func (d *device) Close() error {
	if d.ctx != nil {
		return d.ctx.Close()
	}
	if d.cuc == (cu.CUContext{}) {
		return nil
	}
	return d.cuc.Destroy()
}

// argSlot encodes kernel argument i for its 8-byte slot: ints (which must
// fit 32 bits), bools and floats in the low 4 bytes, device pointers whole.
// Launch and the graphs' nodes share it.
func argSlot(i int, a any) (uint64, error) {
	switch v := a.(type) {
	case int:
		if v > math.MaxInt32 || v < math.MinInt32 {
			return 0, fmt.Errorf("argument %d: %d does not fit a 32-bit int", i, v)
		}
		return uint64(uint32(int32(v))), nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case float32:
		return uint64(math.Float32bits(v)), nil
	case cu.DevicePtr:
		return uint64(v), nil
	}
	return 0, fmt.Errorf("argument %d has unsupported type %T", i, a)
}
