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
	return cases
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
			t.Run("Reference", func(t *testing.T) { checkReference(t, b, m, params, ref, shape, rng) })
		})
	}
}

// checkReference compares m's forward pass and gradients on an input of
// shape with those of ref, its float64 reference.
func checkReference(t *testing.T, b backend.Backend, m nn.Module, params []nn.Param, ref refFunc, shape []int, rng *rand.Rand) {
	x, err := tensor.Uniform(b, rng, -2, 2, shape...)
	if err != nil {
		t.Fatal(err)
	}
	rows := x.Rows()
	out, err := m.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	xs := download(t, x)
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
	}
	cases := []lossCase{
		{"MSE", 5, 7, nn.MSELoss(), -2, 2, false, pointwiseRef(func(p, t float64) float64 { return (p - t) * (p - t) })},
		{"BCE", 7, 3, nn.BCELoss(), 0.05, 0.95, false, pointwiseRef(func(p, t float64) float64 {
			return -(t*math.Log(p) + (1-t)*math.Log(1-p))
		})},
		{"BCEWithLogits", 1, 33, nn.BCEWithLogitsLoss(), -6, 6, false, pointwiseRef(func(x, t float64) float64 {
			s := 1 / (1 + math.Exp(-x))
			return -(t*math.Log(s) + (1-t)*math.Log(1-s))
		})},
		{"CrossEntropy", 7, 5, nn.NewCrossEntropyLoss(), -4, 4, true, func(p, y []float64, rows int) float64 {
			cols := len(p) / rows
			ls := softmaxRef(true)(p, rows, nil)
			var s float64
			for r := 0; r < rows; r++ {
				s -= ls[r*cols+int(y[r])]
			}
			return s / float64(rows)
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			pred, err := tensor.Uniform(b, rng, c.predLo, c.high, c.rows, c.cols)
			if err != nil {
				t.Fatal(err)
			}
			var target *tensor.Tensor
			if c.labels {
				lab := make([]float32, c.rows)
				for j := range lab {
					lab[j] = float32(rng.IntN(c.cols))
				}
				target, err = tensor.FromSlice(b, lab, c.rows)
			} else {
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
