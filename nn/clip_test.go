package nn_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// ClipGradNorm against a float64 reference: gradients of awkward sizes,
// a norm above the bound (scaled to it) and one below (left alone).
func TestClipGradNormMatchesFloat64(t *testing.T) {
	b := cpu.New()
	rng := rand.New(rand.NewPCG(4, 4))
	sizes := []int{1, 7, 33, 257}
	var params []nn.Param
	var host [][]float32
	norm2 := 0.0
	for i, n := range sizes {
		g := make([]float32, n)
		for j := range g {
			g[j] = float32(rng.NormFloat64())
			norm2 += float64(g[j]) * float64(g[j])
		}
		v, err1 := tensor.Zeros(b, n)
		gt, err2 := tensor.FromSlice(b, g, n)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		params = append(params, nn.Param{Name: string(rune('a' + i)), Value: v, Grad: gt})
		host = append(host, g)
	}
	norm := math.Sqrt(norm2)
	for _, maxNorm := range []float64{norm / 3, 2 * norm} {
		for i, p := range params {
			if err := p.Grad.Set(host[i]); err != nil {
				t.Fatal(err)
			}
		}
		c := nn.GradClipper{MaxNorm: float32(maxNorm)}
		if err := c.Clip(params); err != nil {
			t.Fatal(err)
		}
		scale := math.Min(1, maxNorm/(norm+1e-6))
		for i, p := range params {
			got, err := p.Grad.Data()
			if err != nil {
				t.Fatal(err)
			}
			for j, g := range got {
				want := float64(host[i][j]) * scale
				if math.Abs(float64(g)-want) > 1e-5*math.Max(1, math.Abs(want)) {
					t.Fatalf("max norm %.3f (norm %.3f): %s[%d] = %v, want %v", maxNorm, norm, p.Name, j, g, want)
				}
			}
		}
		ss, err := c.SumSquares().Data()
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(ss[0])-norm2) > 1e-5*norm2 {
			t.Errorf("sum of squares %v, want %v", ss[0], norm2)
		}
		// A second Clip starts its sum afresh: with the gradients already
		// clipped to maxNorm (or below it), it changes nothing more.
		if err := c.Clip(params); err != nil {
			t.Fatal(err)
		}
		ss, _ = c.SumSquares().Data()
		if want := math.Min(norm, maxNorm); math.Abs(math.Sqrt(float64(ss[0]))-want) > 1e-4*want {
			t.Errorf("second clip saw norm %v, want %v", math.Sqrt(float64(ss[0])), want)
		}
		c.Free()
	}
	if err := nn.ClipGradNorm(params, 0); err == nil {
		t.Error("a maximum norm of 0 was accepted")
	}
	if err := nn.ClipGradNorm(params, float32(norm/2)); err != nil {
		t.Fatal(err)
	}
}

// A step that clips allocates nothing once the clipper has its buffers.
func TestClipAllocatesNothing(t *testing.T) {
	net, x, y := fmnistNet(t, rand.New(rand.NewPCG(3, 3)))
	b := x.Backend()
	opt, loss := nn.NewAdam(1e-3), nn.NewCrossEntropyLoss()
	c := &nn.GradClipper{MaxNorm: 0.5}
	step := func() {
		if _, err := nn.Gradients(net, loss, x, y); err != nil {
			t.Fatal(err)
		}
		if err := c.Clip(net.Params()); err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(net.Params()); err != nil {
			t.Fatal(err)
		}
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
	}
	step()
	before := b.MemStats()
	heap := testing.AllocsPerRun(10, step)
	if after := b.MemStats(); after.Allocs != before.Allocs {
		t.Errorf("%d buffer allocations in steady-state clipped steps, want 0", after.Allocs-before.Allocs)
	}
	if heap != 0 {
		t.Errorf("%.0f heap allocations per clipped step, want 0", heap)
	}
}
