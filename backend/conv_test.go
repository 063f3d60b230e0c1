package backend

import (
	"math"
	"strings"
	"testing"
)

// OutH and OutW round down as PyTorch's ceil_mode=False: known answers.
func TestConvGeomOutputSize(t *testing.T) {
	cases := []struct {
		g      ConvGeom
		oh, ow int
	}{
		{ConvGeom{N: 1, C: 1, H: 28, W: 28, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}, 28, 28},
		{ConvGeom{N: 1, C: 1, H: 28, W: 28, KH: 2, KW: 2, StrideH: 2, StrideW: 2}, 14, 14},
		{ConvGeom{N: 1, C: 1, H: 5, W: 7, KH: 2, KW: 2, StrideH: 2, StrideW: 2}, 2, 3},
		{ConvGeom{N: 1, C: 1, H: 7, W: 9, KH: 2, KW: 2, StrideH: 3, StrideW: 3}, 2, 3},
		{ConvGeom{N: 1, C: 1, H: 5, W: 7, KH: 5, KW: 7, StrideH: 1, StrideW: 1}, 1, 1},
		{ConvGeom{N: 1, C: 1, H: 3, W: 4, KH: 1, KW: 1, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2}, 7, 8},
		{ConvGeom{N: 1, C: 1, H: 28, W: 28, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, 14, 14},
	}
	for _, c := range cases {
		if err := c.g.Check(); err != nil {
			t.Errorf("%v: %v", c.g, err)
		}
		if c.g.OutH() != c.oh || c.g.OutW() != c.ow {
			t.Errorf("%v: output %d×%d, want %d×%d", c.g, c.g.OutH(), c.g.OutW(), c.oh, c.ow)
		}
	}
	g := cases[0].g
	g.N, g.C = 2, 3
	if g.InLen() != 2*3*28*28 || g.OutLen() != 2*3*28*28 || g.ColsLen() != 2*28*28*3*9 {
		t.Errorf("%v: InLen %d, OutLen %d, ColsLen %d", g, g.InLen(), g.OutLen(), g.ColsLen())
	}
}

// Check names the field at fault; CheckPool adds PyTorch's pad rule.
func TestConvGeomCheck(t *testing.T) {
	good := ConvGeom{N: 2, C: 3, H: 5, W: 7, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
	cases := []struct {
		edit func(*ConvGeom)
		want string
	}{
		{func(g *ConvGeom) { g.N = 0 }, "N = 0"},
		{func(g *ConvGeom) { g.C = -1 }, "C = -1"},
		{func(g *ConvGeom) { g.H = 0 }, "H = 0"},
		{func(g *ConvGeom) { g.W = 0 }, "W = 0"},
		{func(g *ConvGeom) { g.KH = 0 }, "KH = 0"},
		{func(g *ConvGeom) { g.KW = 0 }, "KW = 0"},
		{func(g *ConvGeom) { g.StrideH = 0 }, "StrideH = 0"},
		{func(g *ConvGeom) { g.StrideW = -2 }, "StrideW = -2"},
		{func(g *ConvGeom) { g.PadH = -1 }, "PadH = -1"},
		{func(g *ConvGeom) { g.PadW = -1 }, "PadW = -1"},
		{func(g *ConvGeom) { g.KH = 8 }, "KH = 8"},
		{func(g *ConvGeom) { g.KW = 10 }, "KW = 10"},
		{func(g *ConvGeom) { g.N = math.MaxInt32 / 2 }, "the input"},
		{func(g *ConvGeom) { g.C, g.H, g.W, g.KH, g.KW, g.N = 1, 1000, 1000, 1, 1, 3000 }, "the input"},
		{func(g *ConvGeom) { g.C, g.H, g.W, g.KH, g.KW, g.N = 64, 64, 64, 3, 3, 1024 }, "the column matrix"},
	}
	for _, c := range cases {
		g := good
		c.edit(&g)
		err := g.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: Check() = %v, want an error naming %q", g, err, c.want)
		}
	}
	if err := good.CheckPool(); err != nil {
		t.Errorf("%v: CheckPool() = %v", good, err)
	}
	g := good
	g.PadH = 2
	if err := g.CheckPool(); err == nil || !strings.Contains(err.Error(), "PadH = 2") {
		t.Errorf("%v: CheckPool() = %v, want one naming PadH", g, err)
	}
	if err := g.Check(); err != nil {
		t.Errorf("%v: Check() = %v (a convolution may pad more)", g, err)
	}
	g = good
	g.KW, g.PadW = 2, 2
	if err := g.CheckPool(); err == nil || !strings.Contains(err.Error(), "PadW = 2") {
		t.Errorf("%v: CheckPool() = %v, want one naming PadW", g, err)
	}
}
