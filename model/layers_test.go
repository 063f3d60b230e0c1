package model_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/tensor"
)

// The convolutional layers' arguments, as a PyTorch user writes them and
// as a typo or a hostile spec does: each mistake is refused at the column
// of the argument at fault, and accepted forms are written canonically.
func TestImageLayerArguments(t *testing.T) {
	for spec, canonical := range map[string]string{
		"conv( 1 , 2 , 3 , pad = 1 )":                "conv(1,2,3,pad=1)",
		"conv(1,2,3,bias=true,stride=1,pad=0)":       "conv(1,2,3)",
		"conv(1,2,3,bias=false,pad=1,stride=2)":      "conv(1,2,3,stride=2,pad=1,bias=false)",
		"convtranspose(2,1,3,outpad=1,stride=2)":     "convtranspose(2,1,3,stride=2,outpad=1)",
		"maxpool(2,stride=2,pad=0)":                  "maxpool(2)",
		"avgpool(3,pad=1,stride=3)":                  "avgpool(3,pad=1)",
		"maxpool(3,stride=2)":                        "maxpool(3,stride=2)",
		"batchnorm2d(3,eps=0.00001,momentum=0.10)":   "batchnorm2d(3)",
		"batchnorm1d(3,momentum=0.2,eps=1e-3)":       "batchnorm1d(3,eps=0.001,momentum=0.2)",
		"Conv(1,2,3) GlobalAvgPool() Reshape(2,1,1)": "conv(1,2,3) globalavgpool reshape(2,1,1)",
		"conv(1,1,16384)":                            "conv(1,1,16384)", // 2²⁸ weights, the bound
		"conv(1,2,3,pad=250000000)":                  "conv(1,2,3,pad=250000000)",
		"reshape(1,1,1,1,1,1,1,784)":                 "reshape(1,1,1,1,1,1,1,784)",
		"conv(1,2,3,stride=1000000000)":              "conv(1,2,3,stride=1000000000)",
	} {
		layers, err := model.Parse(spec)
		if err != nil || model.Format(layers) != canonical {
			t.Errorf("Parse(%q) = %q, %v; want %q", spec, model.Format(layers), err, canonical)
			continue
		}
		if again, err := model.Parse(canonical); err != nil || model.Format(again) != canonical {
			t.Errorf("the canonical %q reads back as %q, %v", canonical, model.Format(again), err)
		}
	}
	for _, c := range []struct {
		spec   string
		column int
		want   string
	}{
		{"conv(1,2,3,pad=1,pad=2)", 18, "conv: pad given twice"},
		{"conv(1,2,3,padding=1)", 12, `conv has no argument "padding" (named arguments it takes: bias, pad, stride)`},
		{"conv(1,2,3,outpad=1)", 12, `conv has no argument "outpad"`},
		{"conv(1,2,3,pad=-1)", 16, "conv needs a non-negative integer here, got -1"},
		{"conv(1,2,3,stride=0)", 19, "conv needs a positive integer here, got 0"},
		{"conv(1,2,3,stride=1.5)", 19, "conv needs a positive integer here, got 1.5"},
		{"conv(1,2,3,bias=maybe)", 17, `conv bias "maybe": want true or false`},
		{"conv(1,2,3,bias=False)", 17, `conv bias "False": want true or false`},
		{"conv(1,2,3,bias=0)", 17, `conv bias "0": want true or false`},
		{"conv(1,2,3,stride=2,4)", 21, `conv: positional argument "4" after a named one`},
		{"conv(1,2,3,stride=1e10)", 19, "1e10 is out of range"},
		{"conv(1,2)", 1, "conv takes 3 arguments, got 2: conv(IN,OUT,K[,stride=S][,pad=P][,bias=false])"},
		{"conv(0,2,3)", 6, "conv needs a positive integer here, got 0"},
		{"relu conv(1,2,0)", 15, "conv needs a positive integer here, got 0"},
		{"conv(1,1,16385)", 1, "conv has 268468225 weights, more than the 268435456"},
		{"conv(1000,1000,100)", 1, "conv has 10000000000 weights"},
		// 2²⁰·2²⁰·2¹²·2¹² = 2⁶⁴: an int64 product wraps to 0.
		{"conv(1048576,1048576,4096)", 1, "conv has 1.8446744073709552e+19 weights"},
		{"convtranspose(1048576,1048576,4096)", 1, "convtranspose has 1.8446744073709552e+19 weights"},
		// The pad is at fault, not the window.
		{"conv(1,2,3,pad=999999999)", 16, "conv: pad 999999999 is beyond any image"},
		{"convtranspose(1,2,3,pad=999999999)", 25, "convtranspose: pad 999999999 is beyond any image"},
		{"convtranspose(1,1,3,stride=2,outpad=2)", 37, "convtranspose needs an outpad less than its stride 2, got 2"},
		{"convtranspose(1,1,3,outpad=1)", 28, "convtranspose needs an outpad less than its stride 1, got 1"},
		{"maxpool(2,stride=0)", 18, "maxpool needs a positive stride, got 0 (leave it out for the window's size)"},
		{"avgpool(2,pad=2)", 15, "avgpool pads at most half its window (1), got pad=2"},
		{"maxpool(0)", 9, "maxpool needs a positive integer here, got 0"},
		{"maxpool(2,2)", 1, "maxpool takes 1 arguments, got 2: maxpool(K[,stride=S][,pad=P])"},
		{"maxpool(2,bias=false)", 11, `maxpool has no argument "bias" (named arguments it takes: pad, stride)`},
		{"maxpool(600000000,pad=1)", 9, "maxpool: window 600000000 is beyond any image"},
		{"globalavgpool(1)", 1, "globalavgpool takes 0 arguments, got 1"},
		{"batchnorm2d(0)", 13, "batchnorm2d needs a positive integer here, got 0"},
		{"batchnorm2d(3,eps=0)", 19, "batchnorm2d needs a positive eps, got 0"},
		{"batchnorm1d(3,eps=-1e-5)", 19, "batchnorm1d needs a positive eps, got -1e-05"},
		{"batchnorm2d(3,momentum=1.5)", 24, "batchnorm2d needs a momentum in [0, 1], got 1.5"},
		{"batchnorm2d(3,momentum=none)", 24, `"none" is not a number`},
		{"reshape(-1,4)", 9, "reshape needs a positive integer here, got -1"},
		{"reshape(1,2,3,4,5,6,7,8,9)", 1, "reshape takes 1 to 8 arguments, got 9"},
		{"reshape(100000,100000)", 16, "reshape(100000×100000) has more than 2147483647 values a sample"},
	} {
		_, err := model.Parse(c.spec)
		var se *model.SpecError
		if !errors.As(err, &se) || se.Pos+1 != c.column || !strings.Contains(se.Msg, c.want) {
			t.Errorf("Parse(%q): %v\nwant column %d: %s", c.spec, err, c.column, c.want)
		}
	}
}

// Shapes that do not chain through convolutions, pools, reshapes and
// linear layers are refused at the column of the layer at fault, before
// anything is allocated; and a spec whose input shape only the data can
// give is refused without it.
func TestImageShapeChainErrors(t *testing.T) {
	grey, rgb := tensor.Shape{1, 28, 28}, tensor.Shape{3, 32, 32}
	for _, c := range []struct {
		spec   string
		in     tensor.Shape // nil: NewPlan
		column int
		want   string
	}{
		{"conv(3,8,3) relu flatten linear(10,2)", grey, 1, "conv(3,8,3) takes images of 3 channels (3×H×W) but the input has 1 channel (shape (1×28×28))"},
		{"conv(1,8,3) relu flatten linear(10,2)", rgb, 1, "conv(1,8,3) takes images of 1 channel (1×H×W) but the input has 3 channels (shape (3×32×32))"},
		{"conv(3,8,3) relu flatten linear(10,2)", rgb, 26, "linear(10,2) takes 10 inputs but the layer before gives 7200"},
		{"conv(1,8,3)", tensor.Shape{784}, 1, "conv(1,8,3) takes images of 1 channel (1×H×W) but the input has 784"},
		{"flatten conv(1,8,3)", grey, 9, "but the layer before gives 784: reshape(C,H,W) makes images of vectors"},
		{"conv(1,8,3) maxpool(2) conv(4,2,3)", grey, 24, "conv(4,2,3) takes images of 4 channels (4×H×W) but the layer before gives 8 channels (shape (8×13×13))"},
		{"conv(1,8,3) maxpool(2) reshape(3,3,3)", grey, 24, "reshape(3,3,3) makes samples of 27 values but the layer before gives 1352 (shape (8×13×13))"},
		{"maxpool(2) reshape(2,392)", grey, 12, "reshape(2,392) makes samples of 784 values but the layer before gives 196 (shape (1×14×14))"},
		{"conv(1,8,3) maxpool(2) flatten linear(1352,10) reshape(2,5) conv(2,1,1)", grey, 61, "conv(2,1,1) takes images of 2 channels (2×H×W) but the layer before gives 10 (shape (2×5))"},
		{"conv(1,8,30)", grey, 10, "conv(1,8,30): its 30×30 window does not fit 28×28 images"},
		{"conv(1,8,3,pad=1) maxpool(2) maxpool(2) maxpool(2) maxpool(2) maxpool(2)", grey, 71, "maxpool(2): its 2×2 window does not fit 1×1 images"},
		{"avgpool(31,pad=1)", grey, 9, "avgpool(31,pad=1): its 31×31 window does not fit 28×28 images padded by 1"},
		{"avgpool(29,pad=1) flatten linear(1,2)", grey, 0, ""}, // (28 + 2 − 29)/29 + 1 = 1, as PyTorch
		{"convtranspose(1,1,3,pad=5)", tensor.Shape{1, 2, 2}, 25, "would give -6×-6 images from 2×2"},
		{"globalavgpool linear(2,2)", grey, 15, "linear(2,2) takes 2 inputs but the layer before gives 1"},
		{"batchnorm2d(3)", grey, 1, "batchnorm2d(3) takes images of 3 channels"},
		{"flatten batchnorm2d(1)", grey, 9, "batchnorm2d(1) takes images of 1 channel (1×H×W) but the layer before gives 784: reshape(C,H,W)"},
		{"batchnorm1d(28)", grey, 1, "batchnorm1d(28) takes 28 features, (28) or (28×L) per sample, but the input has 784 (shape (1×28×28))"},
		{"conv(512,512,3)", tensor.Shape{512, 1024, 1024}, 1, "the column matrix (N·OutH·OutW·C·KH·KW) has 2³¹ values or more"},
		// Without the data's shape.
		{"conv(1,2,3) flatten linear(1352,10)", nil, 1, "conv(1,2,3) does not fix the input's shape (its height and width come from the data): the model needs the data's sample shape"},
		{"relu dropout(0.5) maxpool(2)", nil, 19, "maxpool(2) does not fix the input's shape"},
		{"batchnorm2d(1) linear(784,10)", nil, 1, "batchnorm2d(1) does not fix the input's shape"},
		{"linear(784,10) conv(1,2,3)", nil, 16, "conv(1,2,3) takes images of 1 channel (1×H×W) but the layer before gives 10: reshape(C,H,W) makes images of vectors"},
		{"maxpool(2) linear(196,10)", nil, 1, "maxpool(2) does not fix the input's shape"},
		// A spec that implies its input: reshape after a vector.
		{"reshape(1,28,28) conv(1,2,3) flatten linear(1352,10)", nil, 0, ""},
		{"batchnorm1d(784) linear(784,10)", nil, 0, ""},
		{"conv(1,8,3,stride=100) flatten linear(8,2)", grey, 0, ""},
		{"conv(1,2,3) globalavgpool linear(2,10)", rgb[:0:0], 0, ""},
	} {
		in := c.in
		if in != nil && len(in) == 0 {
			in = grey
		}
		var err error
		if in == nil {
			_, err = model.NewPlan(c.spec)
		} else {
			_, err = model.NewPlanFor(c.spec, in)
		}
		if c.column == 0 {
			if err != nil {
				t.Errorf("%q for %v: %v", c.spec, in, err)
			}
			continue
		}
		var se *model.SpecError
		if !errors.As(err, &se) || se.Pos+1 != c.column || !strings.Contains(se.Msg, c.want) {
			t.Errorf("%q for %v: %v\nwant column %d: %s", c.spec, in, err, c.column, c.want)
		}
		b := cpu.New()
		if in != nil {
			if _, err := model.BuildFor(b, c.spec, in, nil); err == nil || b.MemStats().Allocs != 0 {
				t.Errorf("BuildFor(%q): %v after %d allocations", c.spec, err, b.MemStats().Allocs)
			}
		}
	}
}
