// Package nntest checks modules and losses on any backend.
//
// CheckModule (and Check, which returns an error instead) is a gradient
// checker for any nn.Module, yours included: it compares Backward with
// central differences of the module's own Forward (see Options for the
// method and its tolerances).
//
// A backend's tests call CheckModules and CheckLosses with an opened
// backend. CheckModules runs CheckModule on every module of package nn, and
// also compares each deterministic module, forward and backward, with a
// float64 reference written here from the textbook formulas: the forward
// output against the reference output, and the input and parameter
// gradients against central differences of the reference (h = 1e-6 in
// float64, far below float32's resolution, so the finite differences are
// accurate to ~1e-9). The objective is L = Σ out·R for a random R, so that
// every output element contributes with its own weight.
package nntest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// refFunc is a float64 reference forward pass: input x (rows×in) and the
// parameter values in the order of the case's params.
type refFunc func(x []float64, rows int, p [][]float64) []float64

// moduleCase builds a module on a backend and returns every parameter whose
// gradient it accumulates (shared ones included) and its reference, nil
// for modules that draw random numbers (CheckModule still checks them).
// The input is rows×in, or of shape when shape is set (rows = shape[0]).
type moduleCase struct {
	name     string
	rows, in int
	shape    []int
	build    func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error)
	// buffers, when set, is the reference of the module's buffers after
	// one Forward (batch normalisation's running statistics).
	buffers bufRef
}

func (c moduleCase) inputShape() []int {
	if c.shape != nil {
		return c.shape
	}
	return []int{c.rows, c.in}
}

// identityRef is the reference of Flatten: the values are unchanged.
func identityRef(x []float64, _ int, _ [][]float64) []float64 { return append([]float64(nil), x...) }

func linearRef(in, out, pw, pb int) func(x []float64, rows int, p [][]float64) []float64 {
	return func(x []float64, rows int, p [][]float64) []float64 {
		w, b := p[pw], p[pb]
		y := make([]float64, rows*out)
		for r := 0; r < rows; r++ {
			for o := 0; o < out; o++ {
				s := b[o]
				for i := 0; i < in; i++ {
					s += x[r*in+i] * w[o*in+i]
				}
				y[r*out+o] = s
			}
		}
		return y
	}
}

// tiedRef computes h·W + b for W stored out×in: h is rows×out.
func tiedRef(in, out, pw, pb int) refFunc {
	return func(h []float64, rows int, p [][]float64) []float64 {
		w, b := p[pw], p[pb]
		y := make([]float64, rows*in)
		for r := 0; r < rows; r++ {
			for i := 0; i < in; i++ {
				s := b[i]
				for o := 0; o < out; o++ {
					s += h[r*out+o] * w[o*in+i]
				}
				y[r*in+i] = s
			}
		}
		return y
	}
}

func actRef(f backend.Activation, alpha float64) refFunc {
	return func(x []float64, _ int, _ [][]float64) []float64 {
		y := make([]float64, len(x))
		for i, v := range x {
			switch f {
			case backend.Tanh:
				y[i] = math.Tanh(v)
			case backend.Sigmoid:
				y[i] = 1 / (1 + math.Exp(-v))
			case backend.ReLU:
				y[i] = math.Max(v, 0)
			case backend.LeakyReLU:
				y[i] = v
				if v <= 0 {
					y[i] = alpha * v
				}
			}
		}
		return y
	}
}

func softmaxRef(log bool) refFunc {
	return func(x []float64, rows int, _ [][]float64) []float64 {
		cols := len(x) / rows
		y := make([]float64, len(x))
		for r := 0; r < rows; r++ {
			xr := x[r*cols : (r+1)*cols]
			m := math.Inf(-1)
			for _, v := range xr {
				m = math.Max(m, v)
			}
			var s float64
			for _, v := range xr {
				s += math.Exp(v - m)
			}
			for j, v := range xr {
				if log {
					y[r*cols+j] = v - m - math.Log(s)
				} else {
					y[r*cols+j] = math.Exp(v-m) / s
				}
			}
		}
		return y
	}
}

// chain composes references that all read the same parameter list.
// concatRef joins the outputs of heads (widths[h] values per sample) on
// one input, row by row.
func concatRef(widths []int, heads ...refFunc) refFunc {
	return func(x []float64, rows int, p [][]float64) []float64 {
		total := 0
		for _, w := range widths {
			total += w
		}
		y := make([]float64, rows*total)
		col := 0
		for h, f := range heads {
			out := f(x, rows, p)
			for r := range rows {
				copy(y[r*total+col:r*total+col+widths[h]], out[r*widths[h]:(r+1)*widths[h]])
			}
			col += widths[h]
		}
		return y
	}
}

func chain(fs ...refFunc) refFunc {
	return func(x []float64, rows int, p [][]float64) []float64 {
		for _, f := range fs {
			x = f(x, rows, p)
		}
		return x
	}
}

func single(m nn.Module, ref refFunc) func(backend.Backend, *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
	return func(backend.Backend, *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
		return m, m.Params(), ref, nil
	}
}

func moduleCases() []moduleCase {
	linear := func(in, out int, init nn.Init) func(backend.Backend, *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
		return func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			l, err := nn.NewLinear(b, in, out, init, rng)
			if err != nil {
				return nil, nil, nil, err
			}
			return l, l.Params(), linearRef(in, out, 0, 1), nil
		}
	}
	var cases []moduleCase
	cases = append(cases,
		moduleCase{name: "Linear(7,5)", rows: 3, in: 7, build: linear(7, 5, nn.InitDefault)},
		moduleCase{name: "Linear(33,1)/xavier", rows: 1, in: 33, build: linear(33, 1, nn.InitXavier)},
		moduleCase{name: "Linear(1,7)/kaiming", rows: 7, in: 1, build: linear(1, 7, nn.InitKaiming)},
		moduleCase{name: "TiedLinear(4,7)", rows: 5, in: 4, build: func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			enc, err := nn.NewLinear(b, 7, 4, nn.InitDefault, rng)
			if err != nil {
				return nil, nil, nil, err
			}
			dec, err := nn.NewTiedLinear(enc, rng)
			if err != nil {
				return nil, nil, nil, err
			}
			return dec, []nn.Param{enc.W, dec.B}, tiedRef(7, 4, 0, 1), nil
		}},
		moduleCase{name: "Softmax", rows: 4, in: 7, build: single(nn.NewSoftmax(), softmaxRef(false))},
		moduleCase{name: "LogSoftmax", rows: 4, in: 7, build: single(nn.NewLogSoftmax(), softmaxRef(true))},
	)
	for _, a := range []*nn.Activation{nn.Tanh(), nn.Sigmoid(), nn.ReLU(), nn.LeakyReLU(0.1)} {
		cases = append(cases, moduleCase{name: a.String(), rows: 5, in: 7, build: single(a, actRef(a.F, float64(a.Alpha)))})
	}
	cases = append(cases,
		moduleCase{name: "Sequential(classifier)", rows: 6, in: 7, build: func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			l1, err1 := nn.NewLinear(b, 7, 6, nn.InitDefault, rng)
			l2, err2 := nn.NewLinear(b, 6, 5, nn.InitDefault, rng)
			l3, err3 := nn.NewLinear(b, 5, 3, nn.InitDefault, rng)
			if err := firstErr(err1, err2, err3); err != nil {
				return nil, nil, nil, err
			}
			s := nn.NewSequential(l1, nn.Tanh(), l2, nn.ReLU(), l3, nn.NewLogSoftmax())
			ref := chain(linearRef(7, 6, 0, 1), actRef(backend.Tanh, 0), linearRef(6, 5, 2, 3),
				actRef(backend.ReLU, 0), linearRef(5, 3, 4, 5), softmaxRef(true))
			return s, s.Params(), ref, nil
		}},
		// Every activation after a Linear, which backends with
		// backend.FusedLinear run fused (forward and backward), on awkward
		// sizes; a fused pair first (its input gradient is skipped by
		// AccGradParameters, and computed by Backward) and in the middle;
		// LeakyReLU with a negative slope, which stays unfused.
		moduleCase{name: "Sequential(fused: sigmoid, leakyrelu(0.2), tanh)", rows: 7, in: 33, build: func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			l1, err1 := nn.NewLinear(b, 33, 7, nn.InitDefault, rng)
			l2, err2 := nn.NewLinear(b, 7, 1, nn.InitDefault, rng)
			l3, err3 := nn.NewLinear(b, 1, 5, nn.InitDefault, rng)
			if err := firstErr(err1, err2, err3); err != nil {
				return nil, nil, nil, err
			}
			s := nn.NewSequential(l1, nn.Sigmoid(), l2, nn.LeakyReLU(0.2), l3, nn.Tanh())
			ref := chain(linearRef(33, 7, 0, 1), actRef(backend.Sigmoid, 0), linearRef(7, 1, 2, 3),
				actRef(backend.LeakyReLU, float64(float32(0.2))), linearRef(1, 5, 4, 5), actRef(backend.Tanh, 0))
			return s, s.Params(), ref, nil
		}},
		moduleCase{name: "Sequential(fused: relu, leakyrelu(-0.3) unfused)", rows: 1, in: 7, build: func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			l1, err1 := nn.NewLinear(b, 7, 33, nn.InitDefault, rng)
			l2, err2 := nn.NewLinear(b, 33, 4, nn.InitDefault, rng)
			if err := firstErr(err1, err2); err != nil {
				return nil, nil, nil, err
			}
			s := nn.NewSequential(l1, nn.ReLU(), l2, nn.LeakyReLU(-0.3))
			ref := chain(linearRef(7, 33, 0, 1), actRef(backend.ReLU, 0), linearRef(33, 4, 2, 3),
				actRef(backend.LeakyReLU, float64(float32(-0.3))))
			return s, s.Params(), ref, nil
		}},
		moduleCase{name: "Sequential(tied autoencoder)", rows: 3, in: 7, build: func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			enc, err := nn.NewLinear(b, 7, 3, nn.InitDefault, rng)
			if err != nil {
				return nil, nil, nil, err
			}
			dec, err := nn.NewTiedLinear(enc, rng)
			if err != nil {
				return nil, nil, nil, err
			}
			s := nn.NewSequential(enc, nn.LeakyReLU(0.01), dec, nn.Sigmoid())
			ref := chain(linearRef(7, 3, 0, 1), actRef(backend.LeakyReLU, float64(float32(0.01))), tiedRef(7, 3, 0, 2), actRef(backend.Sigmoid, 0))
			return s, s.Params(), ref, nil
		}},
	)
	cases = append(cases,
		// A joint autoencoder: one code, a tied decoder and a classifier
		// head; the encoder's weight gets gradients from the code's two
		// consumers and from the decoder that shares it.
		moduleCase{name: "Sequential(joint autoencoder, Concat)", rows: 5, in: 7, build: func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			enc, err1 := nn.NewLinear(b, 7, 3, nn.InitDefault, rng)
			cls, err2 := nn.NewLinear(b, 3, 4, nn.InitDefault, rng)
			if err := firstErr(err1, err2); err != nil {
				return nil, nil, nil, err
			}
			dec, err := nn.NewTiedLinear(enc, rng)
			if err != nil {
				return nil, nil, nil, err
			}
			s := nn.NewSequential(enc, nn.Tanh(), nn.NewConcat(nn.NewSequential(dec, nn.Sigmoid()), cls))
			// Params: 0.weight, 0.bias, 2.0.0.bias (the decoder's), 2.1.weight, 2.1.bias.
			code := chain(linearRef(7, 3, 0, 1), actRef(backend.Tanh, 0))
			recon := chain(tiedRef(7, 3, 0, 2), actRef(backend.Sigmoid, 0))
			ref := chain(code, concatRef([]int{7, 4}, recon, linearRef(3, 4, 3, 4)))
			return s, s.Params(), ref, nil
		}},
		moduleCase{name: "Concat(three heads, one with dropout)", rows: 4, in: 6, build: func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			l1, err1 := nn.NewLinear(b, 6, 1, nn.InitDefault, rng)
			l2, err2 := nn.NewLinear(b, 6, 5, nn.InitDefault, rng)
			d, err3 := nn.NewDropout(0.3, 2)
			if err := firstErr(err1, err2, err3); err != nil {
				return nil, nil, nil, err
			}
			c := nn.NewConcat(l1, nn.NewSequential(d, l2), nn.Tanh())
			return c, c.Params(), nil, nil
		}},
		moduleCase{name: "Flatten", shape: []int{3, 2, 1, 7}, build: single(nn.NewFlatten(), identityRef)},
		moduleCase{name: "Linear(12,5) on a 4-D input", shape: []int{3, 2, 2, 3}, build: linear(12, 5, nn.InitDefault)},
		moduleCase{name: "TiedLinear(6,4) on a 3-D input", shape: []int{2, 3, 2}, build: func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			enc, err := nn.NewLinear(b, 4, 6, nn.InitDefault, rng)
			if err != nil {
				return nil, nil, nil, err
			}
			dec, err := nn.NewTiedLinear(enc, rng)
			if err != nil {
				return nil, nil, nil, err
			}
			return dec, []nn.Param{enc.W, dec.B}, tiedRef(4, 6, 0, 1), nil
		}},
		moduleCase{name: "Dropout(0.5)", rows: 5, in: 33, build: random(func() (nn.Module, error) { return nn.NewDropout(0.5, 3) })},
		moduleCase{name: "Dropout(0.2) on a 3-D input", shape: []int{2, 3, 7}, build: random(func() (nn.Module, error) { return nn.NewDropout(0.2, 4) })},
		moduleCase{name: "GaussianNoise(0.5)", rows: 4, in: 7, build: random(func() (nn.Module, error) { return nn.NewGaussianNoise(0.5, 5) })},
		moduleCase{name: "Sequential(with dropout)", rows: 5, in: 7, build: func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			l1, err1 := nn.NewLinear(b, 7, 6, nn.InitDefault, rng)
			l2, err2 := nn.NewLinear(b, 6, 3, nn.InitDefault, rng)
			d1, err3 := nn.NewDropout(0.25, 6)
			d2, err4 := nn.NewDropout(0.25, 6) // the same seed: Sequential's reseed must still tell them apart
			if err := firstErr(err1, err2, err3, err4); err != nil {
				return nil, nil, nil, err
			}
			s := nn.NewSequential(d1, l1, nn.Tanh(), d2, l2, nn.NewLogSoftmax())
			return s, s.Params(), nil, nil
		}},
		moduleCase{name: "Sequential(images: noise, flatten, dropout)", shape: []int{3, 1, 3, 4}, build: func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			noise, err1 := nn.NewGaussianNoise(0.1, 7)
			l1, err2 := nn.NewLinear(b, 12, 5, nn.InitXavier, rng)
			drop, err3 := nn.NewDropout(0.4, 8)
			l2, err4 := nn.NewLinear(b, 5, 2, nn.InitDefault, rng)
			if err := firstErr(err1, err2, err3, err4); err != nil {
				return nil, nil, nil, err
			}
			s := nn.NewSequential(noise, nn.NewFlatten(), l1, nn.Sigmoid(), drop, l2)
			return s, s.Params(), nil, nil
		}},
	)
	return append(cases, convCases()...)
}

// random is the build of a module without parameters that draws random
// numbers: no float64 reference.
func random(build func() (nn.Module, error)) func(backend.Backend, *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
	return func(backend.Backend, *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
		m, err := build()
		if err != nil {
			return nil, nil, nil, err
		}
		return m, m.Params(), nil, nil
	}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func download(t *testing.T, x *tensor.Tensor) []float64 {
	t.Helper()
	v, err := x.Data()
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	w := make([]float64, len(v))
	for i, f := range v {
		w[i] = float64(f)
	}
	return w
}

// h is the central-difference step; the reference is float64.
const h = 1e-6

// numericGrad returns dL/dv for every element of v, L = f().
func numericGrad(v []float64, f func() float64) []float64 {
	g := make([]float64, len(v))
	for i := range v {
		orig := v[i]
		v[i] = orig + h
		up := f()
		v[i] = orig - h
		down := f()
		v[i] = orig
		g[i] = (up - down) / (2 * h)
	}
	return g
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// compare checks analytic float32 results against float64 references.
func compare(t *testing.T, what string, got, want []float64, abs, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); !(d <= abs+rel*math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %.7g, reference %.7g (difference %.2g)", what, i, got[i], want[i], d)
		}
	}
}

// CheckModules checks every nn module's forward pass and gradients on b:
// with CheckModule's central differences of the module itself, and, for
// the modules that draw no random numbers, against a float64 reference.
func CheckModules(t *testing.T, b backend.Backend) {
	for i, c := range moduleCases() {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			m, params, ref, err := c.build(b, rng)
			if err != nil {
				t.Fatal(err)
			}
			shape := c.inputShape()
			t.Run("CheckModule", func(t *testing.T) {
				if err := Check(b, m, shape, Options{Seed: uint64(i), Params: params}); err != nil {
					t.Error(err)
				}
			})
			if ref == nil {
				return
			}
			t.Run("Reference", func(t *testing.T) { checkReference(t, b, m, params, ref, c.buffers, shape, rng) })
		})
	}
}

// checkReference compares m's forward pass and gradients on an input of
// shape with those of ref, its float64 reference.
func checkReference(t *testing.T, b backend.Backend, m nn.Module, params []nn.Param, ref refFunc, buffers bufRef, shape []int, rng *rand.Rand) {
	x, err := tensor.Uniform(b, rng, -2, 2, shape...)
	if err != nil {
		t.Fatal(err)
	}
	rows := x.Rows()
	bufs := nn.Buffers(m)
	before := make([][]float64, len(bufs))
	for j, p := range bufs {
		before[j] = download(t, p.Value)
	}
	out, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	xs := download(t, x)
	if buffers != nil {
		want := buffers(xs, rows, before)
		for j, p := range bufs {
			compare(t, "buffer "+p.Name+" after one Forward", download(t, p.Value), want[j], 1e-6, 1e-5)
		}
	}
	ps := make([][]float64, len(params))
	for j, p := range params {
		ps[j] = download(t, p.Value)
	}
	want := ref(xs, rows, ps)
	compare(t, "forward", download(t, out), want, 1e-5, 1e-4)

	r := make([]float32, len(want))
	for j := range r {
		r[j] = float32(rng.Float64()*2 - 1)
	}
	gradOut, err := tensor.FromSlice(b, r, out.Shape()...)
	if err != nil {
		t.Fatal(err)
	}
	rs := download(t, gradOut)
	objective := func() float64 { return dot(ref(xs, rows, ps), rs) }
	nn.ZeroGrad(params)
	for pass := 1; pass <= 2; pass++ { // the second pass checks accumulation
		dx, err := m.Backward(x, gradOut)
		if err != nil {
			t.Fatal(err)
		}
		if err := tensor.SameShape("input gradient and input", dx, x); err != nil {
			t.Fatal(err)
		}
		compare(t, "input gradient", download(t, dx), numericGrad(xs, objective), 2e-4, 2e-3)
		for j, p := range params {
			num := numericGrad(ps[j], objective)
			for k := range num {
				num[k] *= float64(pass)
			}
			compare(t, fmt.Sprintf("pass %d gradient of %s", pass, p.Name), download(t, p.Grad), num, 2e-4, 2e-3)
		}
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
}

// lossRef is a float64 loss of predictions p against targets y.
type lossRef func(p, y []float64, rows int) float64

func pointwiseRef(f func(p, t float64) float64) lossRef {
	return func(p, y []float64, _ int) float64 {
		var s float64
		for i := range p {
			s += f(p[i], y[i])
		}
		return s / float64(len(p))
	}
}

// CheckLosses checks every loss's value and gradient on b.
func CheckLosses(t *testing.T, b backend.Backend) {
	type lossCase struct {
		name         string
		rows, cols   int
		loss         nn.Loss
		predLo, high float64
		labels       bool
		ref          lossRef
		// splitLabel: the target is cols-1 values in (0, 1) and a
		// label in [0, splitLabel) per row, for a SplitLoss.
		splitLabel int
	}
	bce := func(p, t float64) float64 { return -(t*math.Log(p) + (1-t)*math.Log(1-p)) }
	ce := func(p []float64, label int) float64 { // of one row of logits
		return -softmaxRef(true)(p, 1, nil)[label]
	}
	cases := []lossCase{
		{"MSE", 5, 7, nn.MSELoss(), -2, 2, false, pointwiseRef(func(p, t float64) float64 { return (p - t) * (p - t) }), 0},
		{"BCE", 7, 3, nn.BCELoss(), 0.05, 0.95, false, pointwiseRef(bce), 0},
		{"BCEWithLogits", 1, 33, nn.BCEWithLogitsLoss(), -6, 6, false, pointwiseRef(func(x, t float64) float64 {
			s := 1 / (1 + math.Exp(-x))
			return -(t*math.Log(s) + (1-t)*math.Log(1-s))
		}), 0},
		{"CrossEntropy", 7, 5, nn.NewCrossEntropyLoss(), -4, 4, true, func(p, y []float64, rows int) float64 {
			cols := len(p) / rows
			ls := softmaxRef(true)(p, rows, nil)
			var s float64
			for r := 0; r < rows; r++ {
				s -= ls[r*cols+int(y[r])]
			}
			return s / float64(rows)
		}, 0},
		// A joint autoencoder's loss: BCE on 7 reconstructed values and
		// 0.3·cross-entropy on 4 class scores, against [7 values | label].
		{"Split(BCE, 0.3·CrossEntropy)", 5, 11, nn.NewSplitLoss(
			nn.LossPart{Width: 7, TargetWidth: 7, Loss: nn.BCELoss(), Weight: 1},
			nn.LossPart{Width: 4, TargetWidth: 1, Labels: true, Loss: nn.NewCrossEntropyLoss(), Weight: 0.3}), 0.05, 0.95, false,
			func(p, y []float64, rows int) float64 {
				var sb, sc float64
				for r := range rows {
					for j := range 7 {
						sb += bce(p[r*11+j], y[r*8+j])
					}
					sc += ce(p[r*11+7:r*11+11], int(y[r*8+7]))
				}
				return sb/float64(rows*7) + 0.3*sc/float64(rows)
			}, 4},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			pred, err := tensor.Uniform(b, rng, c.predLo, c.high, c.rows, c.cols)
			if err != nil {
				t.Fatal(err)
			}
			var target *tensor.Tensor
			switch {
			case c.splitLabel > 0:
				y := make([]float32, c.rows*(c.cols-c.splitLabel+1))
				w := c.cols - c.splitLabel + 1
				for j := range y {
					if j%w == w-1 {
						y[j] = float32(rng.IntN(c.splitLabel))
					} else {
						y[j] = float32(0.05 + 0.9*rng.Float64())
					}
				}
				target, err = tensor.FromSlice(b, y, c.rows, w)
			case c.labels:
				lab := make([]float32, c.rows)
				for j := range lab {
					lab[j] = float32(rng.IntN(c.cols))
				}
				target, err = tensor.FromSlice(b, lab, c.rows)
			default:
				target, err = tensor.Uniform(b, rng, 0, 1, c.rows, c.cols)
			}
			if err != nil {
				t.Fatal(err)
			}
			l, err := c.loss.Forward(pred, target)
			if err != nil {
				t.Fatal(err)
			}
			ps, ys := download(t, pred), download(t, target)
			compare(t, "loss", download(t, l), []float64{c.ref(ps, ys, c.rows)}, 1e-6, 1e-5)
			num := numericGrad(ps, func() float64 { return c.ref(ps, ys, c.rows) })
			compare(t, "gradient", download(t, c.loss.Backward()), num, 1e-5, 2e-3)
		})
	}
}

// geom2d is the geometry of a convolution or pooling reference: c
// channels of h×w, a k×k window, stride s, padding p.
type geom2d struct{ c, h, w, k, s, p int }

func (g geom2d) out() (int, int) { return (g.h+2*g.p-g.k)/g.s + 1, (g.w+2*g.p-g.k)/g.s + 1 }

// convRef is a direct convolution, by its definition: out filters over g,
// weights p[pw] (out×c×k×k), bias p[pb] (pb < 0: none), zero padding.
func convRef(g geom2d, out, pw, pb int) refFunc {
	return func(x []float64, rows int, p [][]float64) []float64 {
		oh, ow := g.out()
		y := make([]float64, rows*out*oh*ow)
		for n := 0; n < rows; n++ {
			for o := 0; o < out; o++ {
				for i := 0; i < oh; i++ {
					for j := 0; j < ow; j++ {
						var s float64
						if pb >= 0 {
							s = p[pb][o]
						}
						for c := 0; c < g.c; c++ {
							for kh := 0; kh < g.k; kh++ {
								for kw := 0; kw < g.k; kw++ {
									hh, ww := i*g.s-g.p+kh, j*g.s-g.p+kw
									if hh >= 0 && hh < g.h && ww >= 0 && ww < g.w {
										s += p[pw][((o*g.c+c)*g.k+kh)*g.k+kw] * x[((n*g.c+c)*g.h+hh)*g.w+ww]
									}
								}
							}
						}
						y[((n*out+o)*oh+i)*ow+j] = s
					}
				}
			}
		}
		return y
	}
}

// convTransposeRef scatters every input value through its k×k patch of
// weights p[pw] (c×out×k×k) into an output of out channels, as the
// definition of the transposed convolution says, plus the bias p[pb].
func convTransposeRef(g geom2d, out, outPad, pw, pb int) refFunc {
	return func(x []float64, rows int, p [][]float64) []float64 {
		oh, ow := (g.h-1)*g.s-2*g.p+g.k+outPad, (g.w-1)*g.s-2*g.p+g.k+outPad
		y := make([]float64, rows*out*oh*ow)
		for n := 0; n < rows; n++ {
			for o := 0; o < out; o++ {
				for i := 0; i < oh*ow; i++ {
					if pb >= 0 {
						y[(n*out+o)*oh*ow+i] = p[pb][o]
					}
				}
			}
			for c := 0; c < g.c; c++ {
				for i := 0; i < g.h; i++ {
					for j := 0; j < g.w; j++ {
						v := x[((n*g.c+c)*g.h+i)*g.w+j]
						for o := 0; o < out; o++ {
							for kh := 0; kh < g.k; kh++ {
								for kw := 0; kw < g.k; kw++ {
									hh, ww := i*g.s-g.p+kh, j*g.s-g.p+kw
									if hh >= 0 && hh < oh && ww >= 0 && ww < ow {
										y[((n*out+o)*oh+hh)*ow+ww] += v * p[pw][((c*out+o)*g.k+kh)*g.k+kw]
									}
								}
							}
						}
					}
				}
			}
		}
		return y
	}
}

// poolRef is max pooling (padding is −∞) or average pooling (padding
// counts as zeros, divided by k·k) over g, by loops over every window.
func poolRef(g geom2d, max bool) refFunc {
	return func(x []float64, rows int, _ [][]float64) []float64 {
		oh, ow := g.out()
		y := make([]float64, rows*g.c*oh*ow)
		for nc := 0; nc < rows*g.c; nc++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					s := 0.0
					if max {
						s = math.Inf(-1)
					}
					for kh := 0; kh < g.k; kh++ {
						for kw := 0; kw < g.k; kw++ {
							hh, ww := i*g.s-g.p+kh, j*g.s-g.p+kw
							if hh < 0 || hh >= g.h || ww < 0 || ww >= g.w {
								continue
							}
							if v := x[(nc*g.h+hh)*g.w+ww]; max {
								s = math.Max(s, v)
							} else {
								s += v
							}
						}
					}
					if !max {
						s /= float64(g.k * g.k)
					}
					y[(nc*oh+i)*ow+j] = s
				}
			}
		}
		return y
	}
}

// globalAvgRef averages every plane of hw values.
func globalAvgRef(hw int) refFunc {
	return func(x []float64, _ int, _ [][]float64) []float64 {
		y := make([]float64, len(x)/hw)
		for i := range y {
			for _, v := range x[i*hw : (i+1)*hw] {
				y[i] += v / float64(hw)
			}
		}
		return y
	}
}

// channelStats returns the mean and biased variance of every channel of an
// (rows×c×hw) batch, in two passes.
func channelStats(x []float64, rows, c int) (mean, variance []float64) {
	hw := len(x) / (rows * c)
	mean, variance = make([]float64, c), make([]float64, c)
	m := float64(rows * hw)
	for ch := 0; ch < c; ch++ {
		for n := 0; n < rows; n++ {
			for _, v := range x[(n*c+ch)*hw : (n*c+ch+1)*hw] {
				mean[ch] += v / m
			}
		}
		for n := 0; n < rows; n++ {
			for _, v := range x[(n*c+ch)*hw : (n*c+ch+1)*hw] {
				variance[ch] += (v - mean[ch]) * (v - mean[ch]) / m
			}
		}
	}
	return mean, variance
}

// batchNormRef normalises each of c channels with the batch's statistics
// (running == nil: training mode) or with running = {mean, var} (eval), then
// scales by p[pw] and shifts by p[pb].
func batchNormRef(c int, eps float64, running [][]float64, pw, pb int) refFunc {
	return func(x []float64, rows int, p [][]float64) []float64 {
		var mean, variance []float64
		if running == nil {
			mean, variance = channelStats(x, rows, c)
		} else {
			mean, variance = running[0], running[1]
		}
		hw := len(x) / (rows * c)
		y := make([]float64, len(x))
		for i, v := range x {
			ch := i / hw % c
			y[i] = (v-mean[ch])/math.Sqrt(variance[ch]+eps)*p[pw][ch] + p[pb][ch]
		}
		return y
	}
}

// batchNormBuffersRef is what one training Forward of x does to the
// buffers running_mean, running_var (with the unbiased variance) and
// num_batches_tracked, PyTorch's update with momentum 0.1.
func batchNormBuffersRef(c int) bufRef {
	return func(x []float64, rows int, before [][]float64) [][]float64 {
		const mom = 0.1
		mean, variance := channelStats(x, rows, c)
		m := float64(len(x) / c)
		after := [][]float64{make([]float64, c), make([]float64, c), {before[2][0] + 1}}
		for ch := 0; ch < c; ch++ {
			after[0][ch] = (1-mom)*before[0][ch] + mom*mean[ch]
			after[1][ch] = (1-mom)*before[1][ch] + mom*variance[ch]*m/(m-1)
		}
		return after
	}
}

// bufRef is the float64 reference of a module's buffers after one Forward
// of x from the values before.
type bufRef func(x []float64, rows int, before [][]float64) [][]float64

// randomizeRunning sets bn's running statistics to random values (means in
// [-1, 1), variances in [0.25, 2.25)) and returns them, so that an
// eval-mode check does not see the identity statistics 0 and 1.
func randomizeRunning(bn *nn.BatchNorm, rng *rand.Rand) ([][]float64, error) {
	stats := make([][]float64, 2)
	for k, p := range []nn.Param{bn.RunningMean, bn.RunningVar} {
		v := make([]float32, bn.C)
		stats[k] = make([]float64, bn.C)
		for i := range v {
			v[i] = float32(rng.Float64()*2 - 1)
			if k == 1 {
				v[i] = float32(0.25 + 2*rng.Float64())
			}
			stats[k][i] = float64(v[i])
		}
		if err := p.Value.Set(v); err != nil {
			return nil, err
		}
	}
	return stats, nil
}

// randomizeAffine sets bn's weight and bias away from ones and zeros, so
// that the reference checks that they scale and shift.
func randomizeAffine(bn *nn.BatchNorm, rng *rand.Rand) error {
	for k, p := range []nn.Param{bn.Weight, bn.Bias} {
		v := make([]float32, bn.C)
		for i := range v {
			v[i] = float32(rng.Float64()*2 - 1)
			if k == 0 {
				v[i] = float32(0.5 + rng.Float64())
			}
		}
		if err := p.Value.Set(v); err != nil {
			return err
		}
	}
	return nil
}

// convCases are the cases of the convolutional modules: odd sizes,
// stride 2 and 3, padding, one channel, batch 1, no bias, eval mode.
func convCases() []moduleCase {
	type build = func(backend.Backend, *rand.Rand) (nn.Module, []nn.Param, refFunc, error)
	conv := func(in, out, k, s, p int, bias bool, h, w int) build {
		return func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			c, err := nn.NewConv2D(b, in, out, k, s, p, bias, rng)
			if err != nil {
				return nil, nil, nil, err
			}
			pb := 1
			if !bias {
				pb = -1
			}
			return c, c.Params(), convRef(geom2d{in, h, w, k, s, p}, out, 0, pb), nil
		}
	}
	convT := func(in, out, k, s, p, op int, bias bool, h, w int) build {
		return func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			c, err := nn.NewConvTranspose2D(b, in, out, k, s, p, op, bias, rng)
			if err != nil {
				return nil, nil, nil, err
			}
			pb := 1
			if !bias {
				pb = -1
			}
			return c, c.Params(), convTransposeRef(geom2d{in, h, w, k, s, p}, out, op, 0, pb), nil
		}
	}
	pool := func(max bool, k, s, p int, g geom2d) build {
		return func(backend.Backend, *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			var m nn.Module
			var err error
			if max {
				m, err = nn.NewMaxPool2D(k, s, p)
			} else {
				m, err = nn.NewAvgPool2D(k, s, p)
			}
			if err != nil {
				return nil, nil, nil, err
			}
			if s == 0 {
				s = k
			}
			g.k, g.s, g.p = k, s, p
			return m, nil, poolRef(g, max), nil
		}
	}
	bn := func(twoD, eval bool, c int) build {
		return func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			newBN := nn.NewBatchNorm1D
			if twoD {
				newBN = nn.NewBatchNorm2D
			}
			m, err := newBN(b, c)
			if err != nil {
				return nil, nil, nil, err
			}
			if err := randomizeAffine(m, rng); err != nil {
				return nil, nil, nil, err
			}
			var running [][]float64
			if eval {
				if running, err = randomizeRunning(m, rng); err != nil {
					return nil, nil, nil, err
				}
				m.SetTraining(false)
			}
			return m, m.Params(), batchNormRef(c, 1e-5, running, 0, 1), nil
		}
	}
	cnn := func(b backend.Backend, rng *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
		// No bias before batch normalisation, which cancels it (its
		// gradient is zero), as PyTorch users write it.
		c, err1 := nn.NewConv2D(b, 2, 3, 3, 1, 1, false, rng)
		bnorm, err2 := nn.NewBatchNorm2D(b, 3)
		pool, err3 := nn.NewMaxPool2D(2, 0, 0)
		l, err4 := nn.NewLinear(b, 3*3*2, 4, nn.InitDefault, rng)
		if err := firstErr(err1, err2, err3, err4); err != nil {
			return nil, nil, nil, err
		}
		if err := randomizeAffine(bnorm, rng); err != nil {
			return nil, nil, nil, err
		}
		s := nn.NewSequential(c, bnorm, nn.ReLU(), pool, nn.NewFlatten(), l)
		ref := chain(convRef(geom2d{2, 7, 5, 3, 1, 1}, 3, 0, -1), batchNormRef(3, 1e-5, nil, 1, 2), actRef(backend.ReLU, 0),
			poolRef(geom2d{3, 7, 5, 2, 2, 0}, true), identityRef, linearRef(18, 4, 3, 4))
		return s, s.Params(), ref, nil
	}
	bnBufs := func(c int) bufRef { return batchNormBuffersRef(c) }
	return []moduleCase{
		{name: "Conv2D(3,4,3)", shape: []int{2, 3, 7, 5}, build: conv(3, 4, 3, 1, 0, true, 7, 5)},
		{name: "Conv2D(2,3,3,stride=2,pad=1) batch 1", shape: []int{1, 2, 7, 6}, build: conv(2, 3, 3, 2, 1, true, 7, 6)},
		{name: "Conv2D(1,5,2,stride=2,bias=false)", shape: []int{2, 1, 5, 7}, build: conv(1, 5, 2, 2, 0, false, 5, 7)},
		{name: "Conv2D(2,1,1)", shape: []int{3, 2, 1, 3}, build: conv(2, 1, 1, 1, 0, true, 1, 3)},
		{name: "ConvTranspose2D(3,2,3,stride=2,pad=1,outpad=1)", shape: []int{2, 3, 4, 3}, build: convT(3, 2, 3, 2, 1, 1, true, 4, 3)},
		{name: "ConvTranspose2D(1,3,2) batch 1", shape: []int{1, 1, 5, 3}, build: convT(1, 3, 2, 1, 0, 0, true, 5, 3)},
		{name: "ConvTranspose2D(2,1,3,stride=3,outpad=2,bias=false)", shape: []int{2, 2, 3, 2}, build: convT(2, 1, 3, 3, 0, 2, false, 3, 2)},
		{name: "MaxPool2D(2)", shape: []int{2, 3, 7, 5}, build: pool(true, 2, 0, 0, geom2d{c: 3, h: 7, w: 5})},
		{name: "MaxPool2D(3,stride=2,pad=1) batch 1", shape: []int{1, 2, 7, 6}, build: pool(true, 3, 2, 1, geom2d{c: 2, h: 7, w: 6})},
		{name: "AvgPool2D(2)", shape: []int{2, 1, 5, 7}, build: pool(false, 2, 0, 0, geom2d{c: 1, h: 5, w: 7})},
		{name: "AvgPool2D(3,stride=2,pad=1)", shape: []int{1, 2, 7, 6}, build: pool(false, 3, 2, 1, geom2d{c: 2, h: 7, w: 6})},
		{name: "GlobalAvgPool", shape: []int{2, 3, 5, 7}, build: single(nn.NewGlobalAvgPool(), globalAvgRef(35))},
		{name: "BatchNorm2D(3)", shape: []int{2, 3, 5, 7}, build: bn(true, false, 3), buffers: bnBufs(3)},
		{name: "BatchNorm2D(1) batch 1", shape: []int{1, 1, 7, 5}, build: bn(true, false, 1), buffers: bnBufs(1)},
		{name: "BatchNorm1D(5)", shape: []int{7, 5}, build: bn(false, false, 5), buffers: bnBufs(5)},
		{name: "BatchNorm1D(3) on (N×F×L)", shape: []int{2, 3, 7}, build: bn(false, false, 3), buffers: bnBufs(3)},
		{name: "BatchNorm2D(3) eval", shape: []int{2, 3, 5, 7}, build: bn(true, true, 3)},
		{name: "BatchNorm1D(5) eval", shape: []int{3, 5}, build: bn(false, true, 5)},
		{name: "Reshape(2,3,2)", shape: []int{3, 12}, build: func(backend.Backend, *rand.Rand) (nn.Module, []nn.Param, refFunc, error) {
			r, err := nn.NewReshape(2, 3, 2)
			if err != nil {
				return nil, nil, nil, err
			}
			return r, nil, identityRef, nil
		}},
		{name: "Sequential(cnn: conv, batchnorm2d, relu, maxpool, flatten, linear)", shape: []int{3, 2, 7, 5}, build: cnn},
	}
}
