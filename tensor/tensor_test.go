package tensor_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/tensor"
)

func TestFromSliceRoundTrip(t *testing.T) {
	b := cpu.New()
	for _, shape := range [][]int{{1}, {7}, {3, 11}, {2, 3, 5}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(i) - 0.5
		}
		x, err := tensor.FromSlice(b, v, shape...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := x.Data()
		if err != nil || !slices.Equal(got, v) {
			t.Errorf("shape %v: got %v, %v", shape, got, err)
		}
		if x.Rows()*x.Cols() != n {
			t.Errorf("shape %v: Rows×Cols = %d×%d", shape, x.Rows(), x.Cols())
		}
	}
}

func TestErrorsNameShapes(t *testing.T) {
	b := cpu.New()
	a, _ := tensor.Zeros(b, 2, 3)
	c, _ := tensor.Zeros(b, 4, 5)
	out, _ := tensor.Zeros(b, 2, 5)
	cases := []struct {
		name  string
		err   error
		wants []string
	}{
		{"FromSlice", func() error { _, err := tensor.FromSlice(b, make([]float32, 5), 2, 3); return err }(), []string{"5 values", "(2×3)"}},
		{"negative", func() error { _, err := tensor.New(b, 2, -1); return err }(), []string{"(2×-1)"}},
		{"Gemm", tensor.Gemm(false, false, 1, a, c, 0, out), []string{"(2×3)", "(4×5)", "(2×5)"}},
		{"Resize", a.Resize(3, 3), []string{"(2×3)", "(3×3)", "6 values"}},
		{"Set", a.Set(make([]float32, 2)), []string{"2 values", "(2×3)"}},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(c.err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, c.err, w)
			}
		}
	}
}

func TestSeededFillsAreDeterministic(t *testing.T) {
	b := cpu.New()
	draw := func(seed uint64) []float32 {
		x, err := tensor.Normal(b, rand.New(rand.NewPCG(seed, 0)), 0, 1, 33)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := x.Data()
		return v
	}
	if !slices.Equal(draw(1), draw(1)) {
		t.Error("same seed, different values")
	}
	if slices.Equal(draw(1), draw(2)) {
		t.Error("different seeds, same values")
	}
}

func TestEnsureReusesBuffers(t *testing.T) {
	b := cpu.New()
	var x *tensor.Tensor
	if err := tensor.Ensure(&x, b, 128, 10); err != nil {
		t.Fatal(err)
	}
	allocs := b.MemStats().Allocs
	if err := tensor.Ensure(&x, b, 96, 10); err != nil {
		t.Fatal(err)
	}
	if err := tensor.Ensure(&x, b, 128, 10); err != nil {
		t.Fatal(err)
	}
	if got := b.MemStats().Allocs; got != allocs {
		t.Errorf("smaller then equal shapes allocated %d buffers", got-allocs)
	}
	if err := tensor.Ensure(&x, b, 256, 10); err != nil {
		t.Fatal(err)
	}
	if st := b.MemStats(); st.Allocs != allocs+1 || st.LiveBytes != 256*10*4 {
		t.Errorf("growing: %+v", st)
	}
}
