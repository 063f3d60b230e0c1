//go:build cuda

package cuda

// CUDA graphs for captured steps (gpu.GraphDevice), through a small cgo
// shim over the driver API. gorgonia.org/cu v0.9.6 wraps cuGraphCreate and
// cuGraphAddKernelNode, but its KernelNodeParams never passes the kernel's
// arguments to the driver (its conversion leaves kernelParams NULL), and it
// has no cuGraphInstantiate, cuGraphLaunch or
// cuGraphExecKernelNodeSetParams; the six calls below are therefore made
// here, with the context made current as every other call (device.do).
//
// Package gpu records the launches itself and hands this device the list,
// so the graph is built node by node (as tinygrad's TinyJit does) rather
// than by stream capture (cuStreamBeginCapture): eager launches stay on the
// legacy default stream as before (stream capture refuses that stream and
// would need every launch and copy moved to a stream of our own), the
// graph runs on that same stream, so copies and downloads stay ordered
// with it, and the nodes come in the order of the launches, which is what
// updating one launch's arguments needs.
//
// Headers: CUDA 11.4 or newer (cuGraphInstantiateWithFlags). With CUDA 12
// headers CUDA_KERNEL_NODE_PARAMS is its _v2 form, whose extra fields
// (kern, ctx) are left zero, meaning "func, in the current context".

/*
#cgo linux CFLAGS: -I/usr/local/cuda/include
#cgo linux LDFLAGS: -L/usr/local/cuda/lib64 -lcuda
#include <cuda.h>
#include <stdlib.h>
#include <string.h>

static void diynn_kernel_params(CUDA_KERNEL_NODE_PARAMS *p, CUfunction f,
		unsigned gx, unsigned gy, unsigned bx, unsigned by, void **args) {
	memset(p, 0, sizeof *p);
	p->func = f;
	p->gridDimX = gx; p->gridDimY = gy; p->gridDimZ = 1;
	p->blockDimX = bx; p->blockDimY = by; p->blockDimZ = 1;
	p->kernelParams = args;
}

// Adds a kernel node after prev (none when prev is NULL).
static CUresult diynn_graph_add_kernel(CUgraphNode *node, CUgraph g, CUgraphNode prev, CUfunction f,
		unsigned gx, unsigned gy, unsigned bx, unsigned by, void **args) {
	CUDA_KERNEL_NODE_PARAMS p;
	diynn_kernel_params(&p, f, gx, gy, bx, by, args);
	return cuGraphAddKernelNode(node, g, prev ? &prev : NULL, prev ? 1 : 0, &p);
}

static CUresult diynn_graph_set_kernel(CUgraphExec e, CUgraphNode node, CUfunction f,
		unsigned gx, unsigned gy, unsigned bx, unsigned by, void **args) {
	CUDA_KERNEL_NODE_PARAMS p;
	diynn_kernel_params(&p, f, gx, gy, bx, by, args);
	return cuGraphExecKernelNodeSetParams(e, node, &p);
}

static CUresult diynn_graph_create(CUgraph *g) { return cuGraphCreate(g, 0); }
static CUresult diynn_graph_instantiate(CUgraphExec *e, CUgraph g) { return cuGraphInstantiateWithFlags(e, g, 0); }
static CUresult diynn_graph_launch(CUgraphExec e) { return cuGraphLaunch(e, 0); } // the legacy stream, as every launch
static CUresult diynn_graph_exec_destroy(CUgraphExec e) { return cuGraphExecDestroy(e); }
static CUresult diynn_graph_destroy(CUgraph g) { return cuGraphDestroy(g); }

static const char *diynn_error_name(CUresult r) {
	const char *s = NULL;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == NULL) return "unknown CUDA error";
	return s;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/diynn/diynn/backend/gpu"
	"github.com/diynn/diynn/kernels"
	"gorgonia.org/cu"
)

// cuResult turns a driver result into an error naming the call.
func cuResult(call string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	return fmt.Errorf("%s: %s (%d)", call, C.GoString(C.diynn_error_name(r)), int(r))
}

// cFunction is the driver's handle of a kernel. cu.Function is a struct of
// that one handle, unexported; its layout is checked in NewGraph.
func cFunction(f cu.Function) C.CUfunction {
	return *(*C.CUfunction)(unsafe.Pointer(&f))
}

// graphArgs are kernel arguments in C memory: the driver reads them
// through a void** that cgo does not let Go memory hold (a Go pointer to
// Go pointers). One set serves every node: the driver copies the values
// when a node is added or updated.
type graphArgs struct {
	slots *[kernels.MaxArgs]uint64
	ptrs  *[kernels.MaxArgs]unsafe.Pointer
}

func newGraphArgs() graphArgs {
	a := graphArgs{
		slots: (*[kernels.MaxArgs]uint64)(C.calloc(kernels.MaxArgs, 8)),
		ptrs:  (*[kernels.MaxArgs]unsafe.Pointer)(C.calloc(kernels.MaxArgs, C.size_t(unsafe.Sizeof(unsafe.Pointer(nil))))),
	}
	for i := range a.ptrs {
		a.ptrs[i] = unsafe.Pointer(&a.slots[i])
	}
	return a
}

func (a graphArgs) free() {
	C.free(unsafe.Pointer(a.slots))
	C.free(unsafe.Pointer(a.ptrs))
}

// encode writes args into the slots as device.Launch does: each in an
// 8-byte slot, ints and floats in its low 4 bytes.
func (a graphArgs) encode(args []any) error {
	if len(args) > kernels.MaxArgs {
		return fmt.Errorf("%d arguments, at most %d", len(args), kernels.MaxArgs)
	}
	for i, v := range args {
		var err error
		if a.slots[i], err = argSlot(i, v); err != nil {
			return err
		}
	}
	return nil
}

func (a graphArgs) argv() *unsafe.Pointer { return &a.ptrs[0] }

// cudaGraph is a built graph and its executable form.
type cudaGraph struct {
	d     *device
	g     C.CUgraph
	exec  C.CUgraphExec
	nodes []C.CUgraphNode
	fns   []cu.Function
	args  graphArgs
}

// NewGraph builds a chain of kernel nodes, one per launch in order, and
// instantiates it (gpu.GraphDevice).
func (d *device) NewGraph(launches []gpu.Launch) (gpu.DeviceGraph, error) {
	if unsafe.Sizeof(cu.Function{}) != unsafe.Sizeof(C.CUfunction(nil)) {
		return nil, fmt.Errorf("gorgonia.org/cu's Function is not one CUfunction: graphs need the shim updated")
	}
	g := &cudaGraph{d: d, nodes: make([]C.CUgraphNode, len(launches)), fns: make([]cu.Function, len(launches)), args: newGraphArgs()}
	err := d.do(func() error {
		if err := cuResult("cuGraphCreate", C.diynn_graph_create(&g.g)); err != nil {
			return err
		}
		var prev C.CUgraphNode
		for i, l := range launches {
			fn, ok := d.fns[l.Kernel]
			if !ok {
				return fmt.Errorf("no kernel %s", l.Kernel)
			}
			if err := g.args.encode(l.Args); err != nil {
				return fmt.Errorf("%s: %w", l.Kernel, err)
			}
			r := C.diynn_graph_add_kernel(&g.nodes[i], g.g, prev, cFunction(fn),
				C.uint(l.Grid[0]), C.uint(l.Grid[1]), C.uint(l.Block[0]), C.uint(l.Block[1]), g.args.argv())
			if err := cuResult("cuGraphAddKernelNode "+l.Kernel, r); err != nil {
				return err
			}
			g.fns[i], prev = fn, g.nodes[i]
		}
		return cuResult("cuGraphInstantiateWithFlags", C.diynn_graph_instantiate(&g.exec, g.g))
	})
	if err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// Set updates node i's shape and arguments in the executable graph
// (cuGraphExecKernelNodeSetParams: no re-instantiation).
func (g *cudaGraph) Set(i int, l gpu.Launch) error {
	if err := g.args.encode(l.Args); err != nil {
		return fmt.Errorf("%s: %w", l.Kernel, err)
	}
	return g.d.do(func() error {
		r := C.diynn_graph_set_kernel(g.exec, g.nodes[i], cFunction(g.fns[i]),
			C.uint(l.Grid[0]), C.uint(l.Grid[1]), C.uint(l.Block[0]), C.uint(l.Block[1]), g.args.argv())
		return cuResult("cuGraphExecKernelNodeSetParams "+l.Kernel, r)
	})
}

// Run launches the graph on the legacy default stream, after all earlier
// launches and copies and before any later.
func (g *cudaGraph) Run() error {
	return g.d.do(func() error { return cuResult("cuGraphLaunch", C.diynn_graph_launch(g.exec)) })
}

// Close destroys the executable graph and the graph.
func (g *cudaGraph) Close() error {
	var err error
	if g.exec != nil || g.g != nil {
		err = g.d.do(func() error {
			var err error
			if g.exec != nil {
				err = cuResult("cuGraphExecDestroy", C.diynn_graph_exec_destroy(g.exec))
			}
			if g.g != nil {
				if e := cuResult("cuGraphDestroy", C.diynn_graph_destroy(g.g)); err == nil {
					err = e
				}
			}
			return err
		})
		g.exec, g.g = nil, nil
	}
	if g.args.slots != nil {
		g.args.free()
		g.args = graphArgs{}
	}
	return err
}

var _ gpu.GraphDevice = (*device)(nil)
