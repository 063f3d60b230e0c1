//go:build cuda

// Package cuda runs diynn's kernels on NVIDIA GPUs through the CUDA driver
// API (gorgonia.org/cu): a context bound to one locked OS thread, the
// kernels loaded from the PTX that `go generate ./kernels` builds from the
// same source the OpenCL backend compiles, and every launch on one stream.
// GPU memory goes through package gpu's caching allocator.
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
	"strconv"
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
	ctx  *cu.Ctx
	mod  cu.Module
	fns  map[string]cu.Function
	name string
	// Kernel arguments. gorgonia.org/cu copies 8 bytes from every argument
	// pointer, whatever the parameter's size, so each argument lives in an
	// 8-byte slot: a pointer fills it, an int or a float occupies its low 4
	// bytes (the driver reads only as many bytes as the parameter has, and
	// on little-endian hosts the low bytes come first). Pointing at a 4-byte
	// Go variable instead would make the copy read past it.
	slots  [16]uint64
	params [16]unsafe.Pointer
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
	// NewContext starts a goroutine locked to an OS thread that owns the
	// context; every call below goes through it.
	d := &device{ctx: cu.NewContext(dev, cu.SchedAuto), name: name, fns: map[string]cu.Function{}}
	for i := range d.params {
		d.params[i] = unsafe.Pointer(&d.slots[i])
	}
	if err := d.ctx.Do(func() error {
		mod, err := cu.LoadData(kernels.PTX())
		if err != nil {
			return fmt.Errorf("loading the PTX: %w", err)
		}
		d.mod = mod
		for _, k := range kernels.Names {
			if d.fns[k], err = mod.Function(k); err != nil {
				return fmt.Errorf("kernel %s: %w", k, err)
			}
		}
		return nil
	}); err != nil {
		d.ctx.Close()
		return nil, err
	}
	return gpu.New(d)
}

func (d *device) Name() string     { return "cuda" }
func (d *device) Describe() string { return d.name }

func (d *device) Alloc(bytes int) (gpu.Mem, error) { return d.ctx.MemAlloc(int64(bytes)) }

func (d *device) Release(m gpu.Mem) { d.ctx.MemFree(m.(cu.DevicePtr)) }

func (d *device) Write(dst gpu.Mem, src []float32) error {
	d.ctx.MemcpyHtoD(dst.(cu.DevicePtr), unsafe.Pointer(&src[0]), int64(4*len(src)))
	return d.ctx.Error()
}

func (d *device) Read(dst []float32, src gpu.Mem) error {
	d.ctx.MemcpyDtoH(unsafe.Pointer(&dst[0]), src.(cu.DevicePtr), int64(4*len(dst)))
	return d.ctx.Error()
}

func (d *device) Copy(dst, src gpu.Mem, bytes int) error {
	d.ctx.MemcpyDtoD(dst.(cu.DevicePtr), src.(cu.DevicePtr), int64(bytes))
	return d.ctx.Error()
}

func (d *device) Launch(name string, grid, block [2]int, args []any) error {
	if len(args) > len(d.slots) {
		return fmt.Errorf("%d arguments, at most %d", len(args), len(d.slots))
	}
	for i, a := range args {
		switch v := a.(type) {
		case int:
			if v > math.MaxInt32 || v < math.MinInt32 {
				return fmt.Errorf("argument %d: %d does not fit a 32-bit int", i, v)
			}
			d.slots[i] = uint64(uint32(int32(v)))
		case bool:
			d.slots[i] = 0
			if v {
				d.slots[i] = 1
			}
		case float32:
			d.slots[i] = uint64(math.Float32bits(v))
		case cu.DevicePtr:
			d.slots[i] = uint64(v)
		default:
			return fmt.Errorf("argument %d has unsupported type %T", i, a)
		}
	}
	d.ctx.LaunchKernel(d.fns[name], grid[0], grid[1], 1, block[0], block[1], 1, 0, cu.Stream{}, d.params[:len(args)])
	return d.ctx.Error()
}

func (d *device) Finish() error {
	d.ctx.Synchronize()
	return d.ctx.Error()
}

// Close destroys the context and with it all device memory.
func (d *device) Close() error { return d.ctx.Close() }
