package gpu

import (
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/diynn/diynn/backend"
)

// Captured steps (backend.Capturer), written once for every device.
//
// The recording happens here, not in the driver: between BeginCapture and
// EndCapture, launch appends each launch (kernel, shape, arguments) to a
// log instead of handing it to the device, and EndCapture gives the log to
// the device's GraphDevice, which builds its graph from it (CUDA:
// cuGraphAddKernelNode in a chain, then cuGraphInstantiate). A replay logs
// the calls the same way and compares them with the graph's, kernel by
// kernel; the launches whose shape or arguments changed are updated in the
// graph (cuGraphExecKernelNodeSetParams) and the graph runs. Because every
// launch passes through launch, the ops stay written once, the fake
// devices of the tests see exactly what a GPU would, and calls that stop
// matching can always be run eagerly from the log: the results never
// depend on the graph.

// Launch is one kernel launch, as Device.Launch takes it.
type Launch struct {
	Kernel      string
	Grid, Block [2]int
	Args        []any // ints, bools, float32s and Mems
}

// GraphDevice is implemented by devices that can run a fixed sequence of
// launches as one unit of work (CUDA graphs).
type GraphDevice interface {
	// NewGraph builds a graph that runs the launches in order, each after
	// the one before has finished. The device copies what it keeps: the
	// slice and the launches' Args may be reused after the call.
	NewGraph(launches []Launch) (DeviceGraph, error)
}

// DeviceGraph is a graph built by a GraphDevice.
type DeviceGraph interface {
	// Set replaces the shape and arguments of launch i for the runs that
	// follow; the kernel and the number of arguments are those it was
	// built with. It copies l.Args.
	Set(i int, l Launch) error
	// Run runs the graph after all earlier work and before any later, as
	// Launch runs a kernel.
	Run() error
	Close() error
}

// captureMode is what launch does with a kernel.
type captureMode int

const (
	eager     captureMode = iota // run it
	recording                    // log it for EndCapture
	replaying                    // log it and match it with capture.graph
)

// capture is a backend's state between BeginCapture and EndCapture, or
// between Graph.BeginReplay and Graph.Replay.
type capture struct {
	mode   captureMode
	active bool   // a capture or replay is under way (mode is eager once it broke)
	broken string // why it ran eagerly, if it did
	graph  *graph // the graph being replayed
	log    []record
	dev    GraphDevice
	calls  []Launch // EndCapture's list for NewGraph, reused
}

// record is a logged launch: the arguments as the ops gave them (buffers
// as *buffer, to compare) and as the device takes them (Mems).
type record struct {
	kernel      string
	grid, block [2]int
	args, mems  []any
}

// set copies a launch into r, reusing r's slices, so that a replay
// allocates nothing once the log has grown.
func (r *record) set(kernel string, grid, block [2]int, args []any) {
	r.kernel, r.grid, r.block = kernel, grid, block
	r.args = append(r.args[:0], args...)
	r.mems = r.mems[:0]
	for _, a := range args {
		if gb, ok := a.(*buffer); ok {
			a = gb.mem
		}
		r.mems = append(r.mems, a)
	}
}

func (r *record) launch() Launch {
	return Launch{Kernel: r.kernel, Grid: r.grid, Block: r.block, Args: r.mems}
}

// same reports whether r and o launch the same kernel the same way:
// floats compared by their bits (a NaN argument is the same NaN), buffers
// by identity.
func (r *record) same(o *record) bool {
	if r.kernel != o.kernel || r.grid != o.grid || r.block != o.block || len(r.args) != len(o.args) {
		return false
	}
	for i, a := range r.args {
		switch v := a.(type) {
		case float32:
			w, ok := o.args[i].(float32)
			if !ok || math.Float32bits(v) != math.Float32bits(w) {
				return false
			}
		default:
			if a != o.args[i] { // ints, bools and *buffer: comparable
				return false
			}
		}
	}
	return true
}

// logLaunch appends a launch to the log of a capture or replay. In a
// replay, a launch that is not the graph's next kernel breaks the replay:
// the log runs eagerly.
func (b *Backend) logLaunch(name string, grid, block [2]int, args []any) {
	c := &b.cap
	n := len(c.log)
	if n < cap(c.log) {
		c.log = c.log[:n+1]
	} else {
		c.log = append(c.log, record{})
	}
	c.log[n].set(name, grid, block, args)
	if c.mode == replaying {
		g := c.graph
		if n >= len(g.nodes) {
			b.breakCapture(fmt.Sprintf("launch %d (%s) is past the graph's %d", n+1, name, len(g.nodes)))
		} else if k := g.nodes[n].kernel; k != name || len(g.nodes[n].args) != len(args) {
			b.breakCapture(fmt.Sprintf("launch %d is %s, the graph's is %s", n+1, name, k))
		}
	}
}

// flush ends a capture or replay that op (a call that cannot be part of a
// graph) interrupts: the logged launches run eagerly, before op.
func (b *Backend) flush(op string) {
	if b.cap.mode != eager {
		b.breakCapture(op + " cannot be part of a graph")
	}
}

// breakCapture runs the log eagerly and launches eagerly from then on,
// until the capture or replay ends; why is what EndCapture or Replay will
// report.
func (b *Backend) breakCapture(why string) {
	c := &b.cap
	c.mode, c.broken = eager, why
	b.runLog()
}

// runLog launches the logged kernels one by one.
func (b *Backend) runLog() {
	for i := range b.cap.log {
		if b.err != nil {
			break
		}
		r := &b.cap.log[i]
		b.check(r.kernel, b.dev.Launch(r.kernel, r.grid, r.block, r.mems))
	}
	b.cap.log = b.cap.log[:0]
}

// BeginCapture starts recording launches (backend.Capturer). It fails on a
// device without graphs (OpenCL, unless DIYNN_GPU_GRAPH=emulate).
func (b *Backend) BeginCapture() error {
	if !b.ok() {
		return b.err
	}
	if b.cap.dev == nil {
		return fmt.Errorf("%s: the device cannot run graphs", b.dev.Name())
	}
	if b.cap.active {
		return fmt.Errorf("%s: BeginCapture during a capture or replay", b.dev.Name())
	}
	b.cap = capture{mode: recording, active: true, log: b.cap.log[:0], dev: b.cap.dev, calls: b.cap.calls}
	return nil
}

// EndCapture builds the graph of the recorded launches and runs it once
// (backend.Capturer).
func (b *Backend) EndCapture() (backend.Graph, error) {
	c := &b.cap
	if !c.active || c.graph != nil {
		return nil, fmt.Errorf("%s: EndCapture without BeginCapture", b.dev.Name())
	}
	mode := c.mode
	c.active, c.mode = false, eager
	if !b.ok() {
		c.log = c.log[:0]
		return nil, b.err
	}
	if mode != recording {
		return nil, fmt.Errorf("%s: %w: %s", b.dev.Name(), backend.ErrNotCaptured, c.broken)
	}
	c.calls = c.calls[:0]
	for i := range c.log {
		c.calls = append(c.calls, c.log[i].launch())
	}
	g := &graph{b: b, nodes: make([]record, len(c.log))}
	for i := range c.log {
		r := &c.log[i]
		g.nodes[i].set(r.kernel, r.grid, r.block, r.args)
	}
	var err error
	if len(c.calls) > 0 {
		g.dg, err = c.dev.NewGraph(c.calls)
	}
	clear(c.calls) // drop the Mems
	if err != nil {
		b.runLog()
		return nil, fmt.Errorf("%s: %w: building the graph: %v", b.dev.Name(), backend.ErrNotCaptured, err)
	}
	c.log = c.log[:0]
	if g.dg != nil {
		b.check("graph", g.dg.Run())
	}
	if b.err != nil {
		g.Close()
		return nil, b.err
	}
	return g, nil
}

// graph is a captured sequence (backend.Graph). nodes are the launches as
// the graph now holds them.
type graph struct {
	b      *Backend
	dg     DeviceGraph // nil for a graph of no launches
	nodes  []record
	closed bool
}

// BeginReplay starts matching calls with the graph (backend.Graph).
func (g *graph) BeginReplay() error {
	b := g.b
	if g.closed {
		return fmt.Errorf("%s: BeginReplay on a closed graph", b.dev.Name())
	}
	if !b.ok() {
		return b.err
	}
	if b.cap.active {
		return fmt.Errorf("%s: BeginReplay during a capture or replay", b.dev.Name())
	}
	c := &b.cap
	c.mode, c.active, c.broken, c.graph, c.log = replaying, true, "", g, c.log[:0]
	return nil
}

// Replay updates the launches that changed and runs the graph
// (backend.Graph).
func (g *graph) Replay() error {
	b := g.b
	if g.closed {
		return fmt.Errorf("%s: Replay of a closed graph", b.dev.Name())
	}
	c := &b.cap
	if c.active && c.graph != g {
		return fmt.Errorf("%s: Replay during another capture or replay", b.dev.Name())
	}
	if !c.active {
		// Run as it last ran.
		if !b.ok() {
			return b.err
		}
		if g.dg != nil {
			b.check("graph", g.dg.Run())
		}
		return b.err
	}
	mode := c.mode
	c.active, c.mode, c.graph = false, eager, nil
	if !b.ok() {
		c.log = c.log[:0]
		return b.err
	}
	if mode == replaying && len(c.log) != len(g.nodes) {
		mode, c.broken = eager, fmt.Sprintf("%d launches, the graph has %d", len(c.log), len(g.nodes))
		b.runLog()
	}
	if mode != replaying {
		if b.err != nil {
			return b.err
		}
		return fmt.Errorf("%s: %w: %s", b.dev.Name(), backend.ErrNotCaptured, c.broken)
	}
	for i := range c.log {
		r, n := &c.log[i], &g.nodes[i]
		if r.same(n) {
			continue
		}
		if err := g.dg.Set(i, r.launch()); err != nil {
			b.check("graph", err)
			break
		}
		n.set(r.kernel, r.grid, r.block, r.args)
	}
	c.log = c.log[:0]
	if b.err == nil && g.dg != nil {
		b.check("graph", g.dg.Run())
	}
	return b.err
}

// Close releases the graph (backend.Graph).
func (g *graph) Close() error {
	if g.closed {
		return nil
	}
	b := g.b
	if b.cap.active && b.cap.graph == g {
		b.flush("Close")
		b.cap.active, b.cap.graph = false, nil
	}
	g.closed = true
	g.nodes = nil
	if g.dg == nil || b.closed {
		return nil // a closed backend released its device and its graphs
	}
	return g.dg.Close()
}

// graphDevice is the backend's GraphDevice: the device's own, or with
// DIYNN_GPU_GRAPH=emulate graphs that the package runs launch by launch
// (on any device: to test captures on OpenCL, or to tell a fault of the
// driver's graphs from one of this package on CUDA).
func graphDevice(dev Device) (GraphDevice, error) {
	switch mode := os.Getenv("DIYNN_GPU_GRAPH"); mode {
	case "":
		gd, _ := dev.(GraphDevice)
		return gd, nil
	case "emulate":
		return emulatedGraphs{dev}, nil
	default:
		return nil, fmt.Errorf("DIYNN_GPU_GRAPH=%q: want emulate, or unset", mode)
	}
}

// emulatedGraphs runs graphs as their launches, one by one: no faster than
// eager launches, and the same results, which is what makes it a test of
// everything but the driver's graphs.
type emulatedGraphs struct{ dev Device }

func (e emulatedGraphs) NewGraph(launches []Launch) (DeviceGraph, error) {
	g := &emulatedGraph{dev: e.dev, launches: make([]Launch, len(launches))}
	for i, l := range launches {
		g.launches[i] = l
		g.launches[i].Args = append([]any(nil), l.Args...)
	}
	return g, nil
}

type emulatedGraph struct {
	dev      Device
	launches []Launch
}

func (g *emulatedGraph) Set(i int, l Launch) error {
	old := &g.launches[i]
	if l.Kernel != old.Kernel || len(l.Args) != len(old.Args) {
		return errors.New("Set: another kernel or argument count")
	}
	old.Grid, old.Block = l.Grid, l.Block
	copy(old.Args, l.Args)
	return nil
}

func (g *emulatedGraph) Run() error {
	for _, l := range g.launches {
		if err := g.dev.Launch(l.Kernel, l.Grid, l.Block, l.Args); err != nil {
			return fmt.Errorf("%s: %w", l.Kernel, err)
		}
	}
	return nil
}

func (g *emulatedGraph) Close() error { g.launches = nil; return nil }

var (
	_ backend.Capturer = (*Backend)(nil)
	_ backend.Graph    = (*graph)(nil)
)
