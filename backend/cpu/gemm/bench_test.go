package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// BenchmarkSgemm measures one goroutine's product at the layer shapes of
// the 784-176-42-10 classifier and at 1024³, for each kernel and for
// gonum; cmd/bench gemm measures the CPU backend with its worker pool, and
// OpenBLAS beside it (ci/bench.sh).
func BenchmarkSgemm(b *testing.B) {
	shapes := [][3]int{{128, 176, 784}, {128, 784, 176}, {784, 176, 128}, {176, 784, 128}, {128, 42, 176}, {128, 10, 42}, {1024, 1024, 1024}}
	impls := map[string]blas.Float32Level3{"gonum": gonum.Implementation{}}
	for _, k := range Kernels() {
		impls[k.String()] = Implementation{Kernel: k}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		a, bb, c := randSlice(rng, m*k), randSlice(rng, k*n), randSlice(rng, m*n)
		for _, op := range []string{"NN", "NT", "TN"} {
			tA, tB, lda, ldb := blas.NoTrans, blas.NoTrans, k, n
			if op == "NT" {
				tB, ldb = blas.Trans, k
			}
			if op == "TN" {
				tA, lda = blas.Trans, m
			}
			for _, name := range []string{"go", "avx2", "avx512", "gonum"} {
				im, ok := impls[name]
				if !ok {
					continue
				}
				b.Run(fmt.Sprintf("%dx%dx%d/%s/%s", m, n, k, op, name), func(b *testing.B) {
					for b.Loop() {
						im.Sgemm(tA, tB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
					}
					b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkMicroKernel runs each micro-kernel alone on one block of C with
// its panels in L1 (k = 256): the per-core peak that docs/BENCHMARKS.md's
// "distance to the limit" table divides by.
func BenchmarkMicroKernel(b *testing.B) {
	const k = 256
	rng := rand.New(rand.NewPCG(1, 2))
	a, panels, c := randSlice(rng, mr*k), randSlice(rng, 2*k*nr), make([]float32, mr*2*nr)
	run := map[Kernel]func(){
		Go: func() { kernelGo(k, a, k, 1, panels, c, 2*nr, mr, nr, 1, 0, false) },
		AVX2: func() {
			kernelAVX2(k, &a[0], k*4, 4, &panels[0], &c[0], 2*nr*4, mr, nr, &maskTable[0], 1, 0, false)
		},
		AVX512: func() {
			kernelAVX512(k, &a[0], k*4, 4, &panels[0], k*nr*4, &c[0], 2*nr*4, mr, 1<<nr-1, 1, 0, false)
		},
	}
	width := map[Kernel]int{Go: nr, AVX2: nr, AVX512: 2 * nr}
	for _, kern := range Kernels() {
		b.Run(kern.String(), func(b *testing.B) {
			for b.Loop() {
				run[kern]()
			}
			b.ReportMetric(2*float64(mr*width[kern]*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
