package cpu_test

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/backendtest"
	"github.com/diynn/diynn/backend/cpu"
)

// The conformance suite runs once per SGEMM compiled in: the default, and
// the others that NewWithGEMM offers.
func TestConformance(t *testing.T) {
	for _, name := range cpu.GEMMs() {
		t.Run(name, func(t *testing.T) {
			backendtest.Run(t, func() (backend.Backend, error) { return cpu.NewWithGEMM(name) })
		})
	}
}

func TestNewWithGEMMUnknown(t *testing.T) {
	_, err := cpu.NewWithGEMM("nonesuch")
	if err == nil || !strings.Contains(err.Error(), `"nonesuch"`) || !strings.Contains(err.Error(), "diynn") {
		t.Fatalf("NewWithGEMM(nonesuch) error = %v, want one naming it and the choices", err)
	}
}

func TestRegistered(t *testing.T) {
	b, err := backend.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "cpu" {
		t.Errorf("Name() = %q", b.Name())
	}
	if _, err := backend.Open("nonesuch"); err == nil {
		t.Error("Open(nonesuch) succeeded")
	} else {
		t.Log(err)
	}
	auto, skips, err := backend.OpenAuto("auto")
	if err != nil || auto == nil {
		t.Fatalf("auto: %v", err)
	}
	t.Logf("auto picked %s (%s), skipped %v", auto.Name(), auto.Device(), skips)
}

// The pool splits a product into slabs of C, one per core (or, for gonum,
// fixed tiles); with diynn's SGEMM and gonum's every element is computed the
// same way whatever the split, so the number of cores must not change a
// single bit of the result. (OpenBLAS, with -tags openblas, uses other
// kernels for edge blocks, so its last bits can change with the split.)
func TestGemmSameBitsOnAnyCoreCount(t *testing.T) {
	const m, n, k = 130, 200, 300
	rng := rand.New(rand.NewPCG(5, 5))
	av, bv := make([]float32, m*k), make([]float32, k*n)
	for i := range av {
		av[i] = rng.Float32()*2 - 1
	}
	for i := range bv {
		bv[i] = rng.Float32()*2 - 1
	}
	for _, name := range []string{"diynn", "gonum"} {
		var results [][]float32
		for _, procs := range []int{1, 2, 3} {
			old := runtime.GOMAXPROCS(procs)
			c, err := cpu.NewWithGEMM(name)
			if err != nil {
				t.Fatal(err)
			}
			A, B, C := c.Alloc(m*k), c.Alloc(k*n), c.Alloc(m*n)
			c.Upload(A, av)
			c.Upload(B, bv)
			c.Gemm(false, true, m, n, k, 1, A, B, 0, C)
			out := make([]float32, m*n)
			if err := c.Download(out, C); err != nil {
				t.Fatal(err)
			}
			c.Close()
			runtime.GOMAXPROCS(old)
			results = append(results, out)
		}
		for p := 1; p < len(results); p++ {
			for i := range results[0] {
				if math.Float32bits(results[0][i]) != math.Float32bits(results[p][i]) {
					t.Fatalf("%s: element %d is %v on 1 core, %v on %d", name, i, results[0][i], results[p][i], p+1)
				}
			}
		}
	}
}

// The cpu backend reports the host's memory where it can (Linux) and says
// why not elsewhere.
func TestMemoryReporter(t *testing.T) {
	r, ok := backend.Backend(cpu.New()).(backend.MemoryReporter)
	if !ok {
		t.Fatal("cpu.Backend is not a backend.MemoryReporter")
	}
	m, err := r.DeviceMemory()
	if runtime.GOOS == "linux" && (err != nil || m.Total <= 0) {
		t.Errorf("DeviceMemory() = %+v, %v", m, err)
	}
	if runtime.GOOS != "linux" && err == nil {
		t.Errorf("DeviceMemory() = %+v on %s", m, runtime.GOOS)
	}
	if limit := backend.DefaultMemoryLimit(cpu.New()); limit <= 0 || err == nil && limit > m.Total {
		t.Errorf("DefaultMemoryLimit = %d for %+v", limit, m)
	}
}
