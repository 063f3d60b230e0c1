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
