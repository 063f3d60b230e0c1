package cpu_test

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
)

// SumSquares and Random give the same bits on 1 core and on 4: SumSquares
// sums fixed chunks in a fixed order, and Random's values depend on their
// counters alone.
func TestReductionsIndependentOfCores(t *testing.T) {
	const n = 300001
	run := func(procs int) (ss float32, r []float32) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		b := cpu.New()
		defer b.Close()
		x := b.Alloc(n)
		b.Random(backend.Normal, n, 9, 3, 0, 1, x)
		out := b.Alloc(1)
		b.SumSquares(n, x, 0, out)
		got, rv := make([]float32, 1), make([]float32, n)
		if err := b.Download(got, out); err != nil {
			t.Fatal(err)
		}
		if err := b.Download(rv, x); err != nil {
			t.Fatal(err)
		}
		return got[0], rv
	}
	ss1, r1 := run(1)
	ss4, r4 := run(4)
	if math.Float32bits(ss1) != math.Float32bits(ss4) {
		t.Errorf("SumSquares: %v on 1 core, %v on 4", ss1, ss4)
	}
	// SumRows over a tall, thin matrix (a convolution's bias gradient):
	// blocks of rows on any core, their sums added in a fixed order.
	const rows, cols = 5003, 33
	sumRows := func(procs int) []float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		b := cpu.New()
		defer b.Close()
		x, dst := b.Alloc(rows*cols), b.Alloc(cols)
		b.Random(backend.Normal, rows*cols, 5, 0, 0, 1, x)
		b.Fill(cols, 1, dst)
		b.SumRows(rows, cols, x, 0.5, dst)
		got := make([]float32, cols)
		if err := b.Download(got, dst); err != nil {
			t.Fatal(err)
		}
		return got
	}
	sr1, sr4 := sumRows(1), sumRows(4)
	for j := range sr1 {
		if math.Float32bits(sr1[j]) != math.Float32bits(sr4[j]) {
			t.Fatalf("SumRows column %d: %v on 1 core, %v on 4", j, sr1[j], sr4[j])
		}
	}
	for i := range r1 {
		if math.Float32bits(r1[i]) != math.Float32bits(r4[i]) {
			t.Fatalf("Random value %d: %v on 1 core, %v on 4", i, r1[i], r4[i])
		}
	}
}

// The new kernels allocate nothing once the backend has warmed up.
func TestNewKernelsAllocateNothing(t *testing.T) {
	b := cpu.New()
	defer b.Close()
	const n = 100000
	x, y, s := b.Alloc(n), b.Alloc(n), b.Alloc(1)
	b.Fill(1, 2, s)
	step := func() {
		b.Random(backend.Bernoulli, n, 1, 5, 0.9, 1/0.9, x)
		b.Mul(n, x, y, y)
		b.MulRowVector(n/100, 100, x, y, y)
		b.SumSquares(n, y, 0, s)
		b.ClipFactor(1, s, s)
		b.ScaleBy(n, 1, s, y, y)
	}
	step()
	if a := testing.AllocsPerRun(10, step); a != 0 {
		t.Errorf("%v allocations per step", a)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
}

// An unknown DIYNN_GEMM_KERNEL is an error, not silently ignored: the
// variable is read once per process, so a child test binary checks it.
func TestUnknownGemmKernelRefused(t *testing.T) {
	if os.Getenv("DIYNN_CPU_TEST_CHILD") == "1" {
		_, err := backend.Open("cpu")
		if err == nil || !strings.Contains(err.Error(), `DIYNN_GEMM_KERNEL="fast"`) {
			t.Fatalf("Open(cpu) with DIYNN_GEMM_KERNEL=fast: %v", err)
		}
		if err := cpu.New().Err(); err == nil {
			t.Fatal("cpu.New with DIYNN_GEMM_KERNEL=fast has no sticky error")
		}
		if _, err := cpu.NewWithGEMM("diynn"); err == nil {
			t.Fatal("NewWithGEMM with DIYNN_GEMM_KERNEL=fast: no error")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnknownGemmKernelRefused$", "-test.v")
	cmd.Env = append(os.Environ(), "DIYNN_CPU_TEST_CHILD=1", "DIYNN_GEMM_KERNEL=fast")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		// Under qemu-user (CI's arm64 run) the test binary cannot start
		// itself: there is no child to check, which is not a failure.
		t.Skipf("cannot re-run the test binary here: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
