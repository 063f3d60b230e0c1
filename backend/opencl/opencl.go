//go:build opencl

// Package opencl runs diynn's kernels on any OpenCL 1.2 device through
// github.com/jgillich/go-opencl: a GPU driver's, or PoCL's on the CPU (which
// is how CI, with no GPU, runs the same kernels the CUDA backend runs).
//
// The device is the one named by DIYNN_OPENCL_DEVICE (an index in the list
// that `diynn backends` prints, or a substring of the device name), else the
// first GPU, else the first device. It registers itself as "opencl"; for
// "auto" it offers only GPUs, since the cpu backend beats OpenCL on a CPU.
//
// This file is the device layer only — allocation, copies, launches; the
// operations live in package gpu, shared with the CUDA backend.
package opencl

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/gpu"
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

// program is an OpenCL context and the kernels built for it, shared by
// every backend opened on the same device: building takes seconds on PoCL,
// so it happens once per process and device.
type program struct {
	ctx  *cl.Context
	prog *cl.Program
}

var (
	programsMu sync.Mutex
	programs   = map[int]*program{} // by device index: a registry of contexts
)

const icdHelp = "no OpenCL platform found (error -1001): install a GPU driver's OpenCL ICD, " +
	"or PoCL for the CPU (Debian/Ubuntu: apt-get install pocl-opencl-icd)"

// listDevices returns every OpenCL device, in platform order.
func listDevices() ([]*cl.Device, error) {
	platforms, err := cl.GetPlatforms()
	if err != nil || len(platforms) == 0 {
		return nil, errors.New(icdHelp)
	}
	var all []*cl.Device
	for _, p := range platforms {
		if ds, err := p.GetDevices(cl.DeviceTypeAll); err == nil {
			all = append(all, ds...)
		}
	}
	if len(all) == 0 {
		return nil, errors.New("OpenCL platforms found but no devices")
	}
	return all, nil
}

func describe(d *cl.Device) string {
	return fmt.Sprintf("%s (%s, %s)", strings.TrimSpace(d.Name()), d.Type(), strings.TrimSpace(d.Version()))
}

// Devices describes every OpenCL device, for `diynn backends`.
func Devices() ([]string, error) {
	ds, err := listDevices()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = fmt.Sprintf("%d: %s", i, describe(d))
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

func programFor(i int, d *cl.Device) (*program, error) {
	programsMu.Lock()
	defer programsMu.Unlock()
	if p, ok := programs[i]; ok {
		return p, nil
	}
	ctx, err := cl.CreateContext([]*cl.Device{d})
	if err != nil {
		return nil, fmt.Errorf("creating an OpenCL context on %s: %w", d.Name(), err)
	}
	prog, err := build(ctx, d, kernels.OpenCL())
	if err != nil {
		return nil, err
	}
	p := &program{ctx: ctx, prog: prog}
	programs[i] = p
	return p, nil
}

// device implements gpu.Device with one in-order command queue.
type device struct {
	dev     *cl.Device
	p       *program
	queue   *cl.CommandQueue
	kernels map[string]*cl.Kernel
}

// Open opens the chosen device (see the package documentation); gpuOnly
// refuses CPU devices.
func Open(gpuOnly bool) (*gpu.Backend, error) {
	i, d, err := choose(gpuOnly)
	if err != nil {
		return nil, err
	}
	p, err := programFor(i, d)
	if err != nil {
		return nil, err
	}
	q, err := p.ctx.CreateCommandQueue(d, 0)
	if err != nil {
		return nil, fmt.Errorf("creating a command queue: %w", err)
	}
	dv := &device{dev: d, p: p, queue: q, kernels: map[string]*cl.Kernel{}}
	for _, name := range kernels.Names() {
		k, err := p.prog.CreateKernel(name)
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w", name, err)
		}
		dv.kernels[name] = k
	}
	return gpu.New(dv)
}

func (d *device) Name() string     { return "opencl" }
func (d *device) Describe() string { return describe(d.dev) }

// Processors is the number of compute units, for the GEMM dispatch.
func (d *device) Processors() int { return d.dev.MaxComputeUnits() }

// Memory reports CL_DEVICE_GLOBAL_MEM_SIZE (gpu.MemoryInfo). OpenCL 1.2
// has no portable query for the free part, so Available stays 0; a CPU
// device (PoCL) shares the host's memory.
func (d *device) Memory() (m backend.Memory, err error) {
	defer func() {
		if r := recover(); r != nil { // go-opencl panics when clGetDeviceInfo fails
			m, err = backend.Memory{}, fmt.Errorf("querying CL_DEVICE_GLOBAL_MEM_SIZE: %v", r)
		}
	}()
	return backend.Memory{Total: d.dev.GlobalMemSize(), Host: d.dev.Type() == cl.DeviceTypeCPU}, nil
}

func (d *device) Alloc(bytes int) (gpu.Mem, error) {
	return d.p.ctx.CreateEmptyBuffer(cl.MemReadWrite, bytes)
}

func (d *device) Release(m gpu.Mem) { m.(*cl.MemObject).Release() }

// done releases the event an enqueue returns: we never wait on events (the
// queue is in order), and unreleased ones pile up until finalizers run.
func done(ev *cl.Event, err error) error {
	if ev != nil {
		ev.Release()
	}
	return err
}

func (d *device) Write(dst gpu.Mem, src []float32) error {
	// Blocking, so that the caller may reuse src at once.
	return done(d.queue.EnqueueWriteBuffer(dst.(*cl.MemObject), true, 0, 4*len(src), unsafe.Pointer(&src[0]), nil))
}

func (d *device) Read(dst []float32, src gpu.Mem) error {
	return done(d.queue.EnqueueReadBuffer(src.(*cl.MemObject), true, 0, 4*len(dst), unsafe.Pointer(&dst[0]), nil))
}

func (d *device) Copy(dst, src gpu.Mem, bytes int) error {
	return done(d.queue.EnqueueCopyBuffer(src.(*cl.MemObject), dst.(*cl.MemObject), 0, 0, bytes, nil))
}

func (d *device) Launch(name string, grid, block [2]int, args []any) error {
	k := d.kernels[name]
	for i, a := range args {
		var err error
		switch v := a.(type) {
		case int:
			if int(int32(v)) != v {
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
		case *cl.MemObject:
			err = k.SetArgBuffer(i, v)
		default:
			return fmt.Errorf("argument %d has unsupported type %T", i, a)
		}
		if err != nil {
			return fmt.Errorf("argument %d: %w", i, err)
		}
	}
	global := []int{grid[0] * block[0], grid[1] * block[1]}
	return done(d.queue.EnqueueNDRangeKernel(k, nil, global, block[:], nil))
}

func (d *device) Finish() error { return d.queue.Finish() }

// Close releases the queue and kernels; the context stays for other
// backends on the device.
func (d *device) Close() error {
	for _, k := range d.kernels {
		k.Release()
	}
	d.queue.Release()
	return nil
}
