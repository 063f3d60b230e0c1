//go:build cuda

package cuda_test

import (
	"math"
	"testing"
	"time"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cuda"
)

// A captured sequence runs as a CUDA graph: EndCapture runs it once, and
// replays with other arguments (an alpha, a size, a buffer) update the
// graph's nodes and give what eager calls give, against a float64
// reference, on sizes 1, 7, 33, 257 and one past a 256-thread block.
// It also logs what a replay of 64 small launches costs against eager
// launches.
func TestGraphs(t *testing.T) {
	b, err := cuda.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, n := range []int{1, 7, 33, 257, 1000} {
		x, y := b.Alloc(n), b.Alloc(n)
		xs, ys := make([]float32, n), make([]float32, n)
		rx, ry := make([]float64, n), make([]float64, n)
		for i := range n {
			xs[i], ys[i] = float32(i%5)/4+0.5, float32(i%3)-1
			rx[i], ry[i] = float64(xs[i]), float64(ys[i])
		}
		b.Upload(x, xs)
		b.Upload(y, ys)
		seq := func(m int, alpha float32) {
			b.Axpy(m, alpha, x, y)
			b.Scale(m, 0.5, y)
			b.Mul(m, x, y, x)
		}
		ref := func(m int, alpha float64) {
			for i := range m {
				ry[i] = (ry[i] + alpha*rx[i]) * 0.5
				rx[i] *= ry[i]
			}
		}
		if err := b.BeginCapture(); err != nil {
			t.Fatal(err)
		}
		seq(n, 0.25)
		g, err := b.EndCapture()
		if err != nil {
			t.Fatal(err)
		}
		ref(n, 0.25)
		for _, s := range []struct {
			m     int
			alpha float32
		}{{n, 0.25}, {n, -1.5}, {max(1, n/2), 2}, {n, 1}} {
			if err := g.BeginReplay(); err != nil {
				t.Fatal(err)
			}
			seq(s.m, s.alpha)
			if err := g.Replay(); err != nil {
				t.Fatalf("n %d: Replay: %v", n, err)
			}
			ref(s.m, float64(s.alpha))
		}
		gx, gy := make([]float32, n), make([]float32, n)
		if err := b.Download(gx, x); err != nil {
			t.Fatal(err)
		}
		b.Download(gy, y)
		for i := range n {
			if d := math.Abs(float64(gx[i]) - rx[i]); !(d <= 1e-5*(1+math.Abs(rx[i]))) {
				t.Fatalf("n %d: x[%d] = %v, want %v", n, i, gx[i], rx[i])
			}
			if d := math.Abs(float64(gy[i]) - ry[i]); !(d <= 1e-5*(1+math.Abs(ry[i]))) {
				t.Fatalf("n %d: y[%d] = %v, want %v", n, i, gy[i], ry[i])
			}
		}
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		b.Free(x)
		b.Free(y)
	}

	// 64 small launches, eagerly and as a replayed graph.
	x := b.Alloc(128)
	b.Fill(128, 1, x)
	small := func(alpha float32) {
		for range 64 {
			b.Scale(128, alpha, x)
		}
	}
	b.BeginCapture()
	small(1)
	g, err := b.EndCapture()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const reps = 200
	b.Sync()
	start := time.Now()
	for range reps {
		small(1)
	}
	b.Sync()
	eager := time.Since(start) / reps
	start = time.Now()
	for range reps {
		g.BeginReplay()
		small(1) // the same calls, re-issued
		if err := g.Replay(); err != nil {
			t.Fatal(err)
		}
	}
	b.Sync()
	replayed := time.Since(start) / reps
	start = time.Now()
	for range reps {
		g.Replay() // as it last ran, no re-issue
	}
	b.Sync()
	static := time.Since(start) / reps
	t.Logf("64 launches: eager %v, replayed with re-issued calls %v, replayed as is %v", eager, replayed, static)
	var _ backend.Capturer = b
}
