// Command bench measures what each compiled-in backend is worth.
//
//	bench gemm  [-backend all] [-gemm diynn,gonum,openblas|all] [-repeats 9] [-shapes 128x176x784,...] [-trans]
//	bench epoch [-backend all] [-gemm ...] [-repeats 5] [-samples 60000] [-batch 128] [-model fmnist-cnn [-input 1x28x28] [-optim adam]]
//	bench conv  [-backend all] [-gemm ...] [-repeats 9] [-batch 128] [-model fmnist-cnn] [-input 1x28x28]
//	bench spec  PRESET|SPEC
//
// gemm prints GFLOP/s of C = A·B (and the transposed forms with -trans) for
// each shape M×N×K; epoch prints the seconds of one training epoch of the
// 784-176-42-10 classifier (Tanh, ReLU, cross-entropy, SGD with momentum),
// or with -model of a preset or spec (Adam by default, cross-entropy), on
// synthetic data that lives on the device, mini-batches gathered there.
// conv times each convolution, pooling and batch-norm layer of a model
// (fmnist-cnn's by default) on its own, forward and backward, with the
// GFLOP/s of the convolutions (2·N·OH·OW·OC·C·K·K a forward pass, twice
// that backward). spec prints the spec a preset name stands for, which
// bench/torch_cnn.py takes to build the same network.
// All report the median of the repeats, after a warm-up run, as a
// Markdown table. -gemm runs the cpu backend once per SGEMM named (diynn's
// own, gonum's, OpenBLAS's in a build with -tags openblas), so that they are
// compared in one run. Threads follow GOMAXPROCS (and OPENBLAS_NUM_THREADS for a
// build with -tags openblas).
package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/diynn/diynn/backend"
	_ "github.com/diynn/diynn/backend/all"
	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "gemm":
		err = gemmCmd(os.Args[2:])
	case "epoch":
		err = epochCmd(os.Args[2:])
	case "conv":
		err = convCmd(os.Args[2:])
	case "spec":
		err = specCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: bench gemm|epoch|conv|spec [flags]   (bench gemm -h for flags)")
	os.Exit(2)
}

// backends opens the named backend, or every compiled-in one for "all".
// The cpu backend is opened once per SGEMM listed in gemms ("all" for
// every one this build has; "" for its default).
func backends(name, gemms string) ([]backend.Backend, error) {
	var bs []backend.Backend
	for _, d := range backend.Drivers() {
		if name != "all" && d.Name != name {
			continue
		}
		// -gemm picks package cpu's SGEMM, which only its own
		// constructor takes: it applies to that package's driver.
		if d.Name == "cpu" && gemms != "" {
			list := cpu.GEMMs()
			if gemms != "all" {
				list = strings.Split(gemms, ",")
			}
			for _, g := range list {
				b, err := cpu.NewWithGEMM(g)
				if err != nil {
					return nil, err
				}
				bs = append(bs, b)
			}
			continue
		}
		b, err := d.Open()
		if err != nil {
			if name != "all" {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "skipping %s: %v\n", d.Name, err)
			continue
		}
		bs = append(bs, b)
	}
	if len(bs) == 0 {
		return nil, fmt.Errorf("no backend named %q could be opened", name)
	}
	return bs, nil
}

// median times fn repeats times after one warm-up call.
func median(repeats int, fn func() error) (time.Duration, error) {
	if err := fn(); err != nil {
		return 0, err
	}
	ds := make([]time.Duration, repeats)
	for i := range ds {
		start := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		ds[i] = time.Since(start)
	}
	slices.Sort(ds)
	return ds[repeats/2], nil
}

type shape struct{ m, n, k int }

func parseShapes(s string) ([]shape, error) {
	var out []shape
	for _, f := range strings.Split(s, ",") {
		parts := strings.Split(f, "x")
		if len(parts) != 3 {
			return nil, fmt.Errorf("shape %q: want MxNxK", f)
		}
		var d [3]int
		for i, p := range parts {
			v, err := strconv.Atoi(p)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("shape %q: %q is not a positive integer", f, p)
			}
			d[i] = v
		}
		out = append(out, shape{d[0], d[1], d[2]})
	}
	return out, nil
}

func gemmCmd(args []string) error {
	fs := flag.NewFlagSet("gemm", flag.ExitOnError)
	name := fs.String("backend", "all", "backend to measure, or all")
	repeats := fs.Int("repeats", 9, "timed repeats per shape (the median is reported)")
	shapes := fs.String("shapes", "128x176x784,128x784x176,784x176x128,176x784x128,128x42x176,128x10x42,1024x1024x1024", "comma-separated MxNxK")
	gemms := fs.String("gemm", "", "cpu backend: comma-separated SGEMMs to compare ("+strings.Join(cpu.GEMMs(), ", ")+"), or all; default: the build's")
	trans := fs.Bool("trans", false, "also measure A·Bᵀ (NT) and Aᵀ·B (TN)")
	fs.Parse(args)
	ss, err := parseShapes(*shapes)
	if err != nil {
		return err
	}
	bs, err := backends(*name, *gemms)
	if err != nil {
		return err
	}
	modes := [][2]bool{{false, false}}
	if *trans {
		modes = append(modes, [2]bool{false, true}, [2]bool{true, false})
	}
	fmt.Printf("GEMM GFLOP/s, median of %d, GOMAXPROCS=%d\n\n", *repeats, runtime.GOMAXPROCS(0))
	fmt.Printf("GFLOP/s: by the host's clock around the calls and a wait for the device; device: by events on the device, where it has them.\n\n")
	fmt.Printf("| backend | device | op | M×N×K | GFLOP/s | device GFLOP/s |\n|---|---|---|---|---|---|\n")
	for _, b := range bs {
		for _, s := range ss {
			for _, mode := range modes {
				gf, dgf, err := gemmRate(b, s, mode[0], mode[1], *repeats)
				if err != nil {
					return fmt.Errorf("%s %v: %w", b.Name(), s, err)
				}
				dev := "-"
				if dgf > 0 {
					dev = fmt.Sprintf("%.1f", dgf)
				}
				fmt.Printf("| %s | %s | %s | %d×%d×%d | %.1f | %s |\n", b.Name(), b.Device(), opName(mode), s.m, s.n, s.k, gf, dev)
			}
		}
	}
	return nil
}

func opName(mode [2]bool) string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return t(mode[0]) + t(mode[1])
}

// deviceTimer is implemented by backends that can time work on the device
// (package gpu's, on CUDA).
type deviceTimer interface {
	TimeDevice(fn func()) (time.Duration, error)
}

// gemmRate returns GFLOP/s by the host's clock and, where the backend can
// time on the device, by the device's (else 0).
func gemmRate(b backend.Backend, s shape, ta, tb bool, repeats int) (host, device float64, err error) {
	rng := rand.New(rand.NewPCG(1, 1))
	a, err1 := tensor.Uniform(b, rng, -1, 1, s.m, s.k)
	bb, err2 := tensor.Uniform(b, rng, -1, 1, s.k, s.n)
	c, err3 := tensor.Zeros(b, s.m, s.n)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, 0, err
	}
	defer func() { a.Free(); bb.Free(); c.Free() }()
	// Enough calls per timing that small shapes are not timer noise.
	// Devices with memory of their own (GPUs) get 100 times more work per
	// timing, up to 200 calls: their small products take microseconds and
	// their launches are asynchronous. A backend whose buffers are host
	// memory (backend.HostWrapper) computes as it is called.
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
	calls := max(1, int(2e8/flops))
	if _, host := b.(backend.HostWrapper); !host {
		calls = min(200, max(1, int(2e10/flops)))
	}
	run := func() {
		for i := 0; i < calls; i++ {
			b.Gemm(ta, tb, s.m, s.n, s.k, 1, a.Buffer(), bb.Buffer(), 0, c.Buffer())
		}
	}
	d, err := median(repeats, func() error { run(); return b.Sync() })
	if err != nil {
		return 0, 0, err
	}
	host = flops * float64(calls) / d.Seconds() / 1e9
	// Device time: a first call finds whether the device has a timer
	// (OpenCL's answers with an error and no sticky one).
	if t, ok := b.(deviceTimer); ok {
		if _, err := t.TimeDevice(run); err == nil {
			ds := make([]time.Duration, repeats)
			for i := range ds {
				if ds[i], err = t.TimeDevice(run); err != nil {
					return 0, 0, err
				}
			}
			slices.Sort(ds)
			device = flops * float64(calls) / ds[repeats/2].Seconds() / 1e9
		}
	}
	return host, device, b.Err()
}

func epochCmd(args []string) error {
	fs := flag.NewFlagSet("epoch", flag.ExitOnError)
	name := fs.String("backend", "all", "backend to measure, or all")
	repeats := fs.Int("repeats", 5, "timed epochs (the median is reported)")
	samples := fs.Int("samples", 60000, "training samples per epoch")
	batch := fs.Int("batch", 128, "mini-batch size")
	lr := fs.Float64("lr", 0.001, "learning rate (SGD: momentum 0.9)")
	gemms := fs.String("gemm", "", "cpu backend: comma-separated SGEMMs to compare ("+strings.Join(cpu.GEMMs(), ", ")+"), or all; default: the build's")
	modelName := fs.String("model", "", "preset or spec to train instead of the 784-176-42-10 classifier (fmnist-cnn)")
	input := fs.String("input", "1x28x28", "with -model: the per-sample input shape")
	optim := fs.String("optim", "", "adam or sgd; default: sgd for the built-in classifier, adam with -model")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole command (setup and every epoch, all backends) to this new file")
	fs.Parse(args)
	if *samples <= 0 || *batch <= 0 || *repeats <= 0 {
		return fmt.Errorf("-samples, -batch and -repeats must be positive")
	}
	in, err := parseDims(*input)
	if err != nil {
		return err
	}
	if *optim == "" {
		*optim = "sgd"
		if *modelName != "" {
			*optim = "adam"
		}
	}
	if *optim != "sgd" && *optim != "adam" {
		return fmt.Errorf("-optim %q: want adam or sgd", *optim)
	}
	bs, err := backends(*name, *gemms)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.OpenFile(*cpuProfile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	what := "784-176-42-10 (tanh, relu)"
	if *modelName != "" {
		what = *modelName
	}
	fmt.Printf("Seconds per training epoch: %s, cross-entropy, %s, %d samples, batch %d, median of %d, GOMAXPROCS=%d\n\n",
		what, map[string]string{"sgd": "SGD momentum", "adam": "Adam"}[*optim], *samples, *batch, *repeats, runtime.GOMAXPROCS(0))
	fmt.Printf("| backend | device | s/epoch |\n|---|---|---|\n")
	for _, b := range bs {
		var r *epochRun
		if *modelName != "" {
			r, err = modelEpochRun(b, *modelName, in, *optim, *lr, *samples, *batch)
		} else {
			r, err = mlpEpochRun(b, *optim, *lr, *samples, *batch)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", b.Name(), err)
		}
		d, err := median(*repeats, r.epoch)
		replays := r.graph.Replays()
		r.graph.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", b.Name(), err)
		}
		device := b.Device()
		if replays > 0 {
			device += fmt.Sprintf(", step as a captured graph (%d replays)", replays)
		}
		fmt.Printf("| %s | %s | %.3f |\n", b.Name(), device, d.Seconds())
	}
	return nil
}

// mlpEpochRun prepares epochs of the 784-176-42-10 classifier on random
// data. The learning rate is small on purpose: gonum's GEMM skips zero
// multipliers, so a run that saturates its tanh units (as random labels
// with a large rate do within an epoch or two) would time less arithmetic
// than real training does.
func mlpEpochRun(b backend.Backend, optim string, lr float64, samples, batch int) (*epochRun, error) {
	rng := rand.New(rand.NewPCG(7, 7))
	const in, classes = 784, 10
	l1, err1 := nn.NewLinear(b, in, 176, nn.InitDefault, rng)
	l2, err2 := nn.NewLinear(b, 176, 42, nn.InitDefault, rng)
	l3, err3 := nn.NewLinear(b, 42, classes, nn.InitDefault, rng)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	var opt nn.Optimizer = &nn.SGD{LR: lr, Momentum: 0.9}
	if optim == "adam" {
		opt = nn.NewAdam(lr)
	}
	net := nn.NewSequential(l1, nn.Tanh(), l2, nn.ReLU(), l3)
	return newEpochRun(b, net, opt, tensor.Shape{in}, classes, samples, batch, rng)
}
