package gpu

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
)

// hostDevice is a fakeDevice that runs four of nn.kern's kernels on the
// host (fill, axpy, scale, mul: enough for sequences whose results tell
// the order of their launches and their arguments) and has graphs of its
// own, which record what they were built with, every Set and every Run.
type hostDevice struct {
	fakeDevice
	launches int // kernels run, eagerly or in a graph
	graphs   []*hostGraph
	noGraphs bool // NewGraph fails
}

func (d *hostDevice) Launch(name string, grid, block [2]int, args []any) error {
	d.launches++
	f := func(i int) float32 { return args[i].(float32) }
	m := func(i int) []float32 { return args[i].([]float32) }
	n := args[0].(int)
	if grid[0]*block[0] < n {
		return fmt.Errorf("%s: grid %v × block %v does not cover %d values", name, grid, block, n)
	}
	switch name {
	case "fill":
		for i := range n {
			m(2)[i] = f(1)
		}
	case "axpy":
		for i := range n {
			m(3)[i] += f(1) * m(2)[i]
		}
	case "scale":
		for i := range n {
			m(2)[i] *= f(1)
		}
	case "mul":
		for i := range n {
			m(3)[i] = m(1)[i] * m(2)[i]
		}
	default:
		return fmt.Errorf("hostDevice runs no kernel %s", name)
	}
	return nil
}

func (d *hostDevice) NewGraph(launches []Launch) (DeviceGraph, error) {
	if d.noGraphs {
		return nil, errors.New("no graphs today")
	}
	g := &hostGraph{dev: d}
	for _, l := range launches {
		l.Args = append([]any(nil), l.Args...)
		g.launches = append(g.launches, l)
	}
	d.graphs = append(d.graphs, g)
	return g, nil
}

type hostGraph struct {
	dev        *hostDevice
	launches   []Launch
	sets, runs int
	closed     bool
}

func (g *hostGraph) Set(i int, l Launch) error {
	if l.Kernel != g.launches[i].Kernel || len(l.Args) != len(g.launches[i].Args) {
		return fmt.Errorf("Set %d: %s for %s", i, l.Kernel, g.launches[i].Kernel)
	}
	g.sets++
	old := &g.launches[i]
	old.Grid, old.Block = l.Grid, l.Block
	copy(old.Args, l.Args) // no allocation: a replay's cost is the caller's
	return nil
}

func (g *hostGraph) Run() error {
	g.runs++
	for _, l := range g.launches {
		if err := g.dev.Launch(l.Kernel, l.Grid, l.Block, l.Args); err != nil {
			return err
		}
	}
	return nil
}

func (g *hostGraph) Close() error { g.closed = true; return nil }

// sequence issues the calls of one "step" on x and y (n values each):
// y = (y + alpha·x)·0.5, then x = x ⊙ y.
func sequence(b *Backend, n int, alpha float32, x, y backend.Buffer) {
	b.Axpy(n, alpha, x, y)
	b.Scale(n, 0.5, y)
	b.Mul(n, x, y, x)
}

// referenceSequence is sequence in float64.
func referenceSequence(alpha float64, x, y []float64) {
	for i := range x {
		y[i] = (y[i] + alpha*x[i]) * 0.5
		x[i] *= y[i]
	}
}

func download(t *testing.T, b *Backend, x backend.Buffer, n int) []float32 {
	t.Helper()
	got := make([]float32, n)
	if err := b.Download(got, x); err != nil {
		t.Fatal(err)
	}
	return got
}

func near(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= 1e-5*(1+math.Abs(want[i]))) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// A captured sequence is recorded, not run, until EndCapture, which runs
// it once; each replay with other arguments updates only the launches
// whose arguments changed (here the axpy's alpha) and gives what eager
// calls give, against a float64 reference; a replay with the same
// arguments updates nothing; Replay without BeginReplay runs the graph as
// it last ran.
func TestCaptureAndReplay(t *testing.T) {
	for _, n := range []int{1, 7, 33, 257} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dev := &hostDevice{}
			b, err := New(dev)
			if err != nil {
				t.Fatal(err)
			}
			x, y := b.Alloc(n), b.Alloc(n)
			xs, ys := make([]float32, n), make([]float32, n)
			rx, ry := make([]float64, n), make([]float64, n)
			for i := range n {
				xs[i], ys[i] = float32(i%5)/4+0.5, float32(i%3)-1
				rx[i], ry[i] = float64(xs[i]), float64(ys[i])
			}
			b.Upload(x, xs)
			b.Upload(y, ys)

			if err := b.BeginCapture(); err != nil {
				t.Fatal(err)
			}
			before := dev.launches
			sequence(b, n, 0.25, x, y)
			if dev.launches != before {
				t.Fatalf("%d launches ran during the capture, want 0", dev.launches-before)
			}
			g, err := b.EndCapture()
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			hg := dev.graphs[0]
			if kernels := fmt.Sprint(launchNames(hg.launches)); kernels != "[axpy scale mul]" {
				t.Fatalf("graph of %s, want [axpy scale mul]", kernels)
			}
			if hg.runs != 1 {
				t.Fatalf("EndCapture ran the graph %d times, want 1", hg.runs)
			}
			referenceSequence(0.25, rx, ry)
			near(t, "x after the capture", download(t, b, x, n), rx)

			for step, alpha := range []float32{0.25, -1.5, 2, 2} {
				sets := hg.sets
				if err := g.BeginReplay(); err != nil {
					t.Fatal(err)
				}
				before := dev.launches
				sequence(b, n, alpha, x, y)
				if dev.launches != before {
					t.Fatalf("replay %d: %d launches ran before Replay", step, dev.launches-before)
				}
				if err := g.Replay(); err != nil {
					t.Fatalf("replay %d: %v", step, err)
				}
				wantSets := 1
				if step == 0 || step == 3 { // the alpha the graph holds
					wantSets = 0
				}
				if got := hg.sets - sets; got != wantSets {
					t.Errorf("replay %d (alpha %v): %d launches updated, want %d", step, alpha, got, wantSets)
				}
				referenceSequence(float64(alpha), rx, ry)
				near(t, fmt.Sprintf("x after replay %d", step), download(t, b, x, n), rx)
				near(t, fmt.Sprintf("y after replay %d", step), download(t, b, y, n), ry)
			}
			if err := g.Replay(); err != nil { // as it last ran: alpha 2
				t.Fatal(err)
			}
			referenceSequence(2, rx, ry)
			near(t, "x after a replay without BeginReplay", download(t, b, x, n), rx)
			if hg.runs != 6 {
				t.Errorf("graph ran %d times, want 6", hg.runs)
			}
		})
	}
}

func launchNames(ls []Launch) []string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Kernel)
	}
	return s
}

// Calls that do not match the graph run eagerly, in order, with their
// own arguments, and Replay says so with backend.ErrNotCaptured; the graph
// is left as it was and replays again afterwards. Other buffers and other
// sizes (grid shapes) are updated, not refused.
func TestReplayThatDoesNotMatchRunsEagerly(t *testing.T) {
	const n = 33
	cases := []struct {
		name  string
		calls func(b *Backend, x, y, z backend.Buffer)
		ref   func(x, y, z []float64)
		want  string // "" for a replay that matches
	}{
		{"another kernel",
			func(b *Backend, x, y, z backend.Buffer) { b.Axpy(n, 1, x, y); b.Fill(n, 3, y); b.Mul(n, x, y, x) },
			func(x, y, z []float64) {
				for i := range x {
					y[i] = 3
					x[i] *= 3
				}
			}, "launch 2 is fill, the graph's is scale"},
		{"one launch more",
			func(b *Backend, x, y, z backend.Buffer) { sequence(b, n, 1, x, y); b.Scale(n, 2, x) },
			func(x, y, z []float64) {
				referenceSequence(1, x, y)
				for i := range x {
					x[i] *= 2
				}
			}, "launch 4 (scale) is past the graph's 3"},
		{"one launch fewer",
			func(b *Backend, x, y, z backend.Buffer) { b.Axpy(n, 1, x, y); b.Scale(n, 0.5, y) },
			func(x, y, z []float64) {
				for i := range x {
					y[i] = (y[i] + x[i]) * 0.5
				}
			}, "2 launches, the graph has 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dev := &hostDevice{}
			b, _ := New(dev)
			x, y, z := b.Alloc(n), b.Alloc(n), b.Alloc(n)
			rx, ry, rz := make([]float64, n), make([]float64, n), make([]float64, n)
			for i := range n {
				rx[i], ry[i], rz[i] = float64(i%4)*0.5, 1, float64(i%3)
			}
			for _, p := range []struct {
				buf backend.Buffer
				v   []float64
			}{{x, rx}, {y, ry}, {z, rz}} {
				v := make([]float32, n)
				for i := range v {
					v[i] = float32(p.v[i])
				}
				b.Upload(p.buf, v)
			}
			b.BeginCapture()
			sequence(b, n, 1, x, y)
			g, err := b.EndCapture()
			if err != nil {
				t.Fatal(err)
			}
			referenceSequence(1, rx, ry)
			hg := dev.graphs[0]
			g.BeginReplay()
			tc.calls(b, x, y, z)
			err = g.Replay()
			if !errors.Is(err, backend.ErrNotCaptured) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Replay: %v, want ErrNotCaptured: %s", err, tc.want)
			}
			tc.ref(rx, ry, rz)
			near(t, "x", download(t, b, x, n), rx)
			near(t, "y", download(t, b, y, n), ry)
			near(t, "z", download(t, b, z, n), rz)
			if hg.runs != 1 || hg.sets != 0 {
				t.Errorf("the graph ran %d times and was updated %d times, want 1 and 0", hg.runs, hg.sets)
			}
			// The graph still replays, with other buffers and sizes too:
			// every launch is updated.
			g.BeginReplay()
			sequence(b, 7, 1, z, y)
			if err := g.Replay(); err != nil {
				t.Fatal(err)
			}
			referenceSequence(1, rz[:7], ry[:7])
			near(t, "z after a matching replay", download(t, b, z, n), rz)
			near(t, "y after a matching replay", download(t, b, y, n), ry)
			if hg.sets != 3 || hg.runs != 2 {
				t.Errorf("%d launches updated for other buffers and sizes, %d runs; want 3 and 2", hg.sets, hg.runs)
			}
		})
	}
}

// A call that cannot be part of a graph (here Download, Upload, Copy,
// Sync) in a capture runs what was recorded first, then itself; the
// capture ends as eager calls with ErrNotCaptured.
func TestUncapturableCallEndsTheCapture(t *testing.T) {
	const n = 7
	for _, op := range []string{"Download", "Upload", "Copy", "Sync"} {
		t.Run(op, func(t *testing.T) {
			dev := &hostDevice{}
			b, _ := New(dev)
			x, y := b.Alloc(n), b.Alloc(n)
			b.Fill(n, 1, x)
			b.Fill(n, 2, y)
			b.BeginCapture()
			b.Axpy(n, 3, x, y) // y = 5
			got := make([]float32, n)
			switch op {
			case "Download":
				b.Download(got, y)
			case "Upload":
				b.Upload(x, []float32{10}) // after the axpy: y stays 5
			case "Copy":
				b.Copy(n, y, x) // x = 5
			case "Sync":
				b.Sync()
			}
			b.Scale(n, 2, y) // eager now: y = 10
			g, err := b.EndCapture()
			if g != nil || !errors.Is(err, backend.ErrNotCaptured) || !strings.Contains(err.Error(), op+" cannot be part of a graph") {
				t.Fatalf("EndCapture: %v, %v; want ErrNotCaptured naming %s", g, err, op)
			}
			if op == "Download" && got[0] != 5 {
				t.Errorf("Download in the capture read %v, want 5 (the recorded axpy first)", got[0])
			}
			if got := download(t, b, y, n); got[0] != 10 || got[n-1] != 10 {
				t.Errorf("y = %v, want 10s", got)
			}
			if len(dev.graphs) != 0 {
				t.Error("a graph was built")
			}
		})
	}
}

// Capturing needs a device with graphs, or DIYNN_GPU_GRAPH=emulate, which
// runs them launch by launch on any device; captures do not nest, and a
// device that fails to build a graph leaves eager results.
func TestCaptureNeedsGraphs(t *testing.T) {
	b, _ := New(&fakeDevice{})
	if err := b.BeginCapture(); err == nil || !strings.Contains(err.Error(), "cannot run graphs") {
		t.Errorf("BeginCapture without graphs: %v", err)
	}
	t.Setenv("DIYNN_GPU_GRAPH", "nonsense")
	if _, err := New(&fakeDevice{}); err == nil || !strings.Contains(err.Error(), "DIYNN_GPU_GRAPH") {
		t.Errorf("DIYNN_GPU_GRAPH=nonsense: %v", err)
	}
	t.Setenv("DIYNN_GPU_GRAPH", "emulate")
	dev := &hostDevice{noGraphs: true} // emulation replaces the device's graphs
	b, err := New(dev)
	if err != nil {
		t.Fatal(err)
	}
	x, y := b.Alloc(3), b.Alloc(3)
	b.Fill(3, 1, x)
	b.Fill(3, 0, y)
	if err := b.BeginCapture(); err != nil {
		t.Fatal(err)
	}
	if err := b.BeginCapture(); err == nil {
		t.Error("a capture inside a capture")
	}
	b.Axpy(3, 2, x, y)
	g, err := b.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	for _, alpha := range []float32{1, 4} {
		g.BeginReplay()
		b.Axpy(3, alpha, x, y)
		if err := g.Replay(); err != nil {
			t.Fatal(err)
		}
	}
	if got := download(t, b, y, 3); got[2] != 7 {
		t.Errorf("emulated graph: y = %v, want 7s", got)
	}
	g.Close()
	if err := g.BeginReplay(); err == nil {
		t.Error("BeginReplay on a closed graph")
	}

	t.Setenv("DIYNN_GPU_GRAPH", "")
	b, _ = New(dev)
	x = b.Alloc(3)
	b.Fill(3, 1, x)
	b.BeginCapture()
	b.Scale(3, 3, x)
	if _, err := b.EndCapture(); !errors.Is(err, backend.ErrNotCaptured) || !strings.Contains(err.Error(), "no graphs today") {
		t.Errorf("EndCapture on a device that cannot build the graph: %v", err)
	}
	if got := download(t, b, x, 3); got[0] != 3 {
		t.Errorf("x = %v after a failed graph, want 3s (run eagerly)", got)
	}
}

// A replayed step adds no Go allocation to those of its eager calls, and
// no device allocation.
func TestReplayAllocatesNoMoreThanEagerCalls(t *testing.T) {
	const n = 33
	dev := &hostDevice{}
	b, _ := New(dev)
	x, y := b.Alloc(n), b.Alloc(n)
	b.Fill(n, 1, x)
	b.Fill(n, 1, y)
	eager := testing.AllocsPerRun(20, func() { sequence(b, n, 0.001, x, y) })
	b.BeginCapture()
	sequence(b, n, 0.001, x, y)
	g, err := b.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	alpha := float32(0)
	stats := b.MemStats()
	replayed := testing.AllocsPerRun(20, func() {
		alpha += 0.001
		g.BeginReplay()
		sequence(b, n, alpha, x, y)
		if err := g.Replay(); err != nil {
			t.Fatal(err)
		}
	})
	if replayed > eager {
		t.Errorf("%.0f allocations per replayed step, %.0f per eager one", replayed, eager)
	}
	if b.MemStats() != stats {
		t.Errorf("device allocations in replays: %+v, then %+v", stats, b.MemStats())
	}
}
