package cpu_test

import (
	"fmt"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
)

// BenchmarkGemm reports GFLOP/s of C = A·B at the shapes of the
// 784-176-42-10 classifier and at 1024³.
func BenchmarkGemm(b *testing.B) {
	for _, s := range [][3]int{{128, 176, 784}, {128, 784, 176}, {784, 176, 128}, {1024, 1024, 1024}} {
		m, n, k := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("%dx%dx%d", m, n, k), func(b *testing.B) {
			c := cpu.New()
			defer c.Close()
			A, B, C := c.Alloc(m*k), c.Alloc(k*n), c.Alloc(m*n)
			c.Fill(m*k, 0.5, A)
			c.Fill(k*n, 0.25, B)
			for b.Loop() {
				c.Gemm(false, false, m, n, k, 1, A, B, 0, C)
			}
			if err := c.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
