package train

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
)

// capturing wraps a backend as a backend.Capturer that counts what Fit
// asks of it. With inner set, it passes the calls on (a real capturer:
// gpu's, on OpenCL or CUDA); without, its "graphs" run the calls eagerly
// as they are issued, which is enough to see which steps Fit captures and
// replays, and notMatching makes every replay report that its calls did
// not match.
type capturing struct {
	backend.Backend
	inner       backend.Capturer
	notMatching bool

	begins, ends, replays, notReplayed int
}

func (c *capturing) BeginCapture() error {
	c.begins++
	if c.inner != nil {
		return c.inner.BeginCapture()
	}
	return nil
}

func (c *capturing) EndCapture() (backend.Graph, error) {
	c.ends++
	if c.inner == nil {
		return &countedGraph{c: c}, nil
	}
	g, err := c.inner.EndCapture()
	if err != nil {
		return nil, err
	}
	return &countedGraph{c: c, inner: g}, nil
}

type countedGraph struct {
	c     *capturing
	inner backend.Graph
}

func (g *countedGraph) BeginReplay() error {
	if g.inner == nil {
		return nil
	}
	return g.inner.BeginReplay()
}

func (g *countedGraph) Replay() error {
	var err error
	if g.inner != nil {
		err = g.inner.Replay()
	} else if g.c.notMatching {
		err = backend.ErrNotCaptured
	}
	if errors.Is(err, backend.ErrNotCaptured) {
		g.c.notReplayed++
	} else if err == nil {
		g.c.replays++
	}
	return err
}

func (g *countedGraph) Close() error {
	if g.inner == nil {
		return nil
	}
	return g.inner.Close()
}

// capturedNet is a network whose step needs per-step host values of every
// kind: Dropout's Philox seeds, and with captureConfig Adam's bias
// corrections, a per-step schedule and the batch offsets.
func capturedNet(t *testing.T, b backend.Backend) nn.Module {
	rng := rand.New(rand.NewPCG(1, 1))
	l1, err1 := nn.NewLinear(b, 2, 32, nn.InitDefault, rng)
	l2, err2 := nn.NewLinear(b, 32, 4, nn.InitDefault, rng)
	drop, err3 := nn.NewDropout(0.3, 1)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	return nn.NewSequential(l1, nn.ReLU(), drop, l2)
}

func captureConfig() Config {
	return Config{Epochs: 3, Batch: 32, Optimizer: nn.NewAdam(0.01), ClipNorm: 1, Seed: 7, CheckEvery: 4,
		Schedule: nn.Warmup{Steps: 10, Then: nn.Cosine{Epochs: 3, MinFactor: 0.1, PerStep: true}}}
}

// Fit runs the first full batch eagerly, captures the second and replays
// the rest; the short last batch of each epoch (330 = 10·32 + 10) runs
// eagerly, outside the graph.
func TestFitCapturesFullBatchesOnce(t *testing.T) {
	c := &capturing{Backend: cpu.New()}
	if _, err := Fit(capturedNet(t, c), dots(t, 330, 1), nil, captureConfig()); err != nil {
		t.Fatal(err)
	}
	// 3 epochs of 10 full batches: 1 eager, 1 captured, 28 replayed.
	if c.begins != 1 || c.ends != 1 || c.replays != 28 || c.notReplayed != 0 {
		t.Errorf("captures begun %d, ended %d, replays %d (%d not replayed); want 1, 1, 28, 0", c.begins, c.ends, c.replays, c.notReplayed)
	}
}

// DIYNN_CUDA_GRAPH=0 turns captures off.
func TestCUDAGraphEnvTurnsCapturesOff(t *testing.T) {
	t.Setenv("DIYNN_CUDA_GRAPH", "0")
	c := &capturing{Backend: cpu.New()}
	if _, err := Fit(capturedNet(t, c), dots(t, 330, 1), nil, captureConfig()); err != nil {
		t.Fatal(err)
	}
	if c.begins+c.ends+c.replays != 0 {
		t.Errorf("with DIYNN_CUDA_GRAPH=0: %d captures, %d replays", c.begins, c.replays)
	}
	t.Setenv("DIYNN_CUDA_GRAPH", "1")
	if !graphsEnabled() {
		t.Error("DIYNN_CUDA_GRAPH=1 turns graphs off")
	}
}

// Replays whose calls stop matching run eagerly; Fit captures again after
// each, and after maxCaptureFailures stays eager.
func TestFitStopsCapturingWhenReplaysDoNotMatch(t *testing.T) {
	c := &capturing{Backend: cpu.New(), notMatching: true}
	if _, err := Fit(capturedNet(t, c), dots(t, 330, 1), nil, captureConfig()); err != nil {
		t.Fatal(err)
	}
	if c.begins != maxCaptureFailures || c.notReplayed != maxCaptureFailures || c.replays != 0 {
		t.Errorf("%d captures, %d replays that did not match, %d that did; want %d, %d, 0",
			c.begins, c.notReplayed, c.replays, maxCaptureFailures, maxCaptureFailures)
	}
}

// A replayed step allocates nothing, on the device or the Go heap.
func TestCapturedStepAllocatesNothing(t *testing.T) {
	c := &capturing{Backend: cpu.New()}
	net := capturedNet(t, c)
	cfg := captureConfig()
	cfg.CheckEvery, cfg.EvalBatch = 1, 1000
	tr, err := newTrainer(net, dots(t, 320, 1), nil, cfg, 0.01, newReporter(net, "", cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.free()
	tr.step(0, 0) // eager; stepsAllocateNothing's first step captures
	stepsAllocateNothing(t, tr, net)
	if c.begins != 1 || c.replays < 20 {
		t.Errorf("%d captures, %d replays: the steps measured were not replays", c.begins, c.replays)
	}
}

// checkCapturedMatchesEager trains dropoutNet with captureConfig on open()
// twice, with DIYNN_CUDA_GRAPH=0 and with graphs, and requires the same
// losses and weights bit for bit (the same kernels run with the same
// arguments in the same order), and that the graph run was replayed.
func checkCapturedMatchesEager(t *testing.T, open func() (backend.Backend, error)) {
	run := func(graphs bool) (History, [][]float32, *capturing) {
		t.Setenv("DIYNN_CUDA_GRAPH", map[bool]string{false: "0", true: ""}[graphs])
		b, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		inner, ok := b.(backend.Capturer)
		if !ok {
			t.Fatalf("%s is not a backend.Capturer", b.Name())
		}
		c := &capturing{Backend: b, inner: inner}
		net := capturedNet(t, c)
		h, err := Fit(net, dots(t, 330, 1), dots(t, 100, 2), captureConfig())
		if err != nil {
			t.Fatal(err)
		}
		var w [][]float32
		for _, p := range net.Params() {
			v := make([]float32, p.Value.Len())
			if err := b.Download(v, p.Value.Buffer()); err != nil {
				t.Fatal(err)
			}
			w = append(w, v)
		}
		return h, w, c
	}
	he, we, ce := run(false)
	hg, wg, cg := run(true)
	if ce.begins != 0 || cg.begins != 1 || cg.replays != 28 || cg.notReplayed != 0 {
		t.Fatalf("eager run: %d captures; graph run: %d captures, %d replays, %d not replayed; want 0; 1, 28, 0",
			ce.begins, cg.begins, cg.replays, cg.notReplayed)
	}
	for i := range he {
		t.Logf("epoch %d: eager loss %.7f eval %.7f | graph loss %.7f eval %.7f", i+1, he[i].TrainLoss, he[i].EvalLoss, hg[i].TrainLoss, hg[i].EvalLoss)
		if he[i].TrainLoss != hg[i].TrainLoss || he[i].EvalLoss != hg[i].EvalLoss || math.IsNaN(hg[i].TrainLoss) {
			t.Errorf("epoch %d: losses differ", i+1)
		}
	}
	for i := range we {
		for j := range we[i] {
			if math.Float32bits(we[i][j]) != math.Float32bits(wg[i][j]) {
				t.Fatalf("parameter %d[%d]: eager %v, graph %v", i, j, we[i][j], wg[i][j])
			}
		}
	}
}
