package nntest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/nn"
	"github.com/diynn/diynn/tensor"
)

// Options tunes Check. Zero fields take the defaults written beside them.
//
// # How the check works, and its tolerances
//
// Check draws an input x uniformly in [Lo, Hi) and a random R of the
// output's shape, uniform in [-1, 1), and takes the objective
// L = Σ out·R, computed in float64 from the module's own float32 forward
// passes: its gradient with respect to the output is R, so the analytic
// gradients are what Backward(x, R) returns and accumulates. Each input
// element and each parameter element v is moved to the float32 values
// nearest v ± h and v ± 2h, with h = H·max(1, |v|), and the analytic value
// g is compared with the central difference c = (L₊ - L₋)/(v₊ - v₋):
//
//	|g - c| ≤ Rel·|c| + Abs·scale + noise
//
// where scale is the largest magnitude in that gradient (analytic or
// numeric) and noise is float32's rounding in c: each output that the step
// changed is off by up to an ulp, about ε·|out| (ε = 2⁻²⁴ ≈ 6e-8), and the
// division by 2h magnifies that to ~ε·|out·R|/h, 6e-5·|out·R| at h = 1e-3;
// Check estimates it from the outputs that changed (an ulp each, random
// signs, times 4 for the roundings of several layers). Outputs that a step
// does not reach are bit-identical in L₊ and L₋ and cancel. Truncation, the
// central difference's own error h²·|f‴|/6, is ~1e-7 relative at h = 1e-3.
//
// A difference is trusted only where it is smooth: the differences with
// steps h and 2h agree, and so do the one-sided ones (L₊ - L)/h and
// (L - L₋)/h, within the same tolerance. A step that crosses a kink (ReLU
// at 0) fails that test, and Check tries h/4 and h/16 before leaving the
// element unjudged. The check fails on any trusted element out of
// tolerance, or when more than half of a gradient's elements could not be
// judged.
//
// With the defaults (H = 1e-3, Rel = Abs = 2e-3) every module of package
// nn passes, over 300 seeds, with the worst element at a third of its
// tolerance; a gradient 1% off, or a missing term such as a bias gradient,
// fails (TestCheckFailsOnBrokenBackward).
type Options struct {
	// Seed seeds the input, R, and the nn.Reseed call made before every
	// Forward, so that modules that draw random numbers (Dropout) apply one
	// mask throughout. Zero is a seed like any other.
	Seed uint64
	// H is the relative step of the central differences (default 1e-3).
	H float64
	// Rel and Abs are the tolerances above (default 2e-3 each).
	Rel, Abs float64
	// Lo and Hi bound the input (default [-2, 2)). Modules defined only on
	// part of the line (a log) need a range of their own.
	Lo, Hi float64
	// Params lists the parameters whose gradients are checked (default
	// m.Params()). A module that accumulates into parameters it does not
	// own, as TiedLinear into its encoder's weight, lists them here.
	Params []nn.Param

	scale float64 // the largest magnitude in the gradient being judged
}

// validate refuses options that would make the check meaningless: a step
// that is not a positive number, negative tolerances, or an empty input
// range (Lo ≥ Hi after the defaults).
func (o Options) validate() error {
	switch {
	case !(o.H > 0) || math.IsInf(o.H, 1):
		return fmt.Errorf("Options.H = %v, want a positive step", o.H)
	case !(o.Rel >= 0) || !(o.Abs >= 0):
		return fmt.Errorf("Options.Rel = %v, Abs = %v: tolerances cannot be negative", o.Rel, o.Abs)
	case !(o.Lo < o.Hi) || math.IsInf(o.Lo, 0) || math.IsInf(o.Hi, 0):
		return fmt.Errorf("Options.Lo = %v, Hi = %v: want finite bounds with Lo < Hi", o.Lo, o.Hi)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.H == 0 {
		o.H = 1e-3
	}
	if o.Rel == 0 {
		o.Rel = 2e-3
	}
	if o.Abs == 0 {
		o.Abs = 2e-3
	}
	if o.Lo == 0 && o.Hi == 0 {
		o.Lo, o.Hi = -2, 2
	}
	return o
}

// CheckModule checks m's Backward against central differences of its
// Forward on b, for an input of inputShape (batch dimension first), with
// the default Options, and reports a mismatch with t.Error. It is the check
// package nn runs on its own modules; use it on yours:
//
//	func TestMyLayer(t *testing.T) {
//		nntest.CheckModule(t, cpu.New(), NewMyLayer(7, 5), 3, 7)
//	}
//
// See Options for what is compared and with which tolerances, and Check for
// a version that returns the error.
func CheckModule(t testing.TB, b backend.Backend, m nn.Module, inputShape ...int) {
	t.Helper()
	if err := Check(b, m, inputShape, Options{}); err != nil {
		t.Error(err)
	}
}

// Check compares m's input and parameter gradients with central
// differences (see Options), for an input of inputShape, batch dimension
// first. It also checks that
//
//   - Forward is reproducible after nn.Reseed (two passes, same output);
//   - a module that implements nn.Shaper reports the per-sample output
//     shape that its Forward gives;
//   - the input gradient has the input's shape;
//   - gradients accumulate: after a second Backward, every parameter
//     gradient is twice the central difference, and the input gradient is
//     unchanged.
//
// It leaves m's parameters and buffers (nn.BufferHolder: batch
// normalisation's running statistics, which every training-mode Forward
// moves) as it found them; the parameters' gradients hold the two
// passes' sum. The error names the module, the gradient and the worst
// elements.
func Check(b backend.Backend, m nn.Module, inputShape []int, opt Options) (result error) {
	opt = opt.withDefaults()
	name := describe(m)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("nntest: %s on input %v: %s", name, tensor.Shape(inputShape), fmt.Sprintf(format, args...))
	}
	wrap := func(what string, err error) error {
		return fmt.Errorf("nntest: %s on input %v: %s: %w", name, tensor.Shape(inputShape), what, err)
	}
	if err := opt.validate(); err != nil {
		return fail("%v", err)
	}
	if len(inputShape) == 0 {
		return fail("the input shape needs a batch dimension")
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6772616463686b)) // "gradchk"
	x, err := tensor.Uniform(b, rng, opt.Lo, opt.Hi, inputShape...)
	if err != nil {
		return wrap("input", err)
	}
	defer x.Free()
	// The hundreds of Forward passes below would move a module's running
	// statistics far from where its user left them: they are put back.
	bufs := nn.Buffers(m)
	saved := make([][]float32, len(bufs))
	for i, p := range bufs {
		if saved[i], err = p.Value.Data(); err != nil {
			return wrap("buffer "+p.Name, err)
		}
	}
	defer func() {
		for i, p := range bufs {
			if err := p.Value.Set(saved[i]); err != nil && result == nil {
				result = wrap("restoring buffer "+p.Name, err)
			}
		}
	}()
	params := opt.Params
	if params == nil {
		params = m.Params()
	}

	var r []float64
	var gradOut *tensor.Tensor
	var out *tensor.Tensor
	forward := func() (float64, []float32, error) {
		nn.Reseed(m, opt.Seed)
		var err error
		if out, err = m.Forward(x); err != nil {
			return 0, nil, wrap("Forward", err)
		}
		v, err := out.Data()
		if err != nil {
			return 0, nil, wrap("Forward", err)
		}
		if r == nil {
			r = make([]float64, len(v))
			rf := make([]float32, len(v))
			for i := range r {
				rf[i] = float32(rng.Float64()*2 - 1)
				r[i] = float64(rf[i])
			}
			if gradOut, err = tensor.FromSlice(b, rf, out.Shape()...); err != nil {
				return 0, nil, wrap("gradient of the output", err)
			}
		}
		if len(v) != len(r) {
			return 0, nil, fail("Forward returned %d values, then %d", len(r), len(v))
		}
		var l float64
		for i, o := range v {
			l += float64(o) * r[i]
		}
		return l, v, nil
	}
	l0, _, err := forward()
	if err != nil {
		return err
	}
	defer gradOut.Free()
	// A module that says its output shape (nn.Shaper) must say the one its
	// Forward gives: package model chains specs with it before building.
	if sh, ok := m.(nn.Shaper); ok {
		want, err := sh.OutputShape(tensor.Shape(inputShape[1:]))
		if err != nil {
			return wrap(fmt.Sprintf("OutputShape(%v)", tensor.Shape(inputShape[1:])), err)
		}
		if got := out.Shape(); len(got) == 0 || !slices.Equal(got[1:], want) {
			return fail("OutputShape(%v) = %v, but Forward returned %v per sample (output %v)",
				tensor.Shape(inputShape[1:]), want, tensor.Shape(got[min(1, len(got)):]), got)
		}
	}
	if again, _, err := forward(); err != nil {
		return err
	} else if again != l0 {
		return fail("two Forward passes after nn.Reseed differ (objective %v, then %v): a module draws random numbers without implementing nn.Reseeder, or keeps state between passes", l0, again)
	}

	// The analytic gradients, twice, right after a Forward at x.
	nn.ZeroGrad(params)
	var dx [2][]float64
	var grads [2][][]float64
	for pass := 0; pass < 2; pass++ {
		g, err := m.Backward(x, gradOut)
		if err != nil {
			return wrap(fmt.Sprintf("Backward (pass %d)", pass+1), err)
		}
		if g == nil {
			return fail("Backward returned no input gradient")
		}
		if err := tensor.SameShape("input gradient and input", g, x); err != nil {
			return wrap("Backward", err)
		}
		if dx[pass], err = data64(g); err != nil {
			return wrap("input gradient", err)
		}
		for _, p := range params {
			v, err := data64(p.Grad)
			if err != nil {
				return wrap("gradient of "+p.Name, err)
			}
			grads[pass] = append(grads[pass], v)
		}
	}

	var problems []string
	// The input, then every parameter: perturb each element of t.
	check := func(what string, t *tensor.Tensor, analytic [2][]float64, passFactor bool) error {
		// The retries with smaller steps judge with the scale of the
		// analytic gradient: the numeric one is not known yet.
		o := opt
		for _, g := range analytic[0] {
			o.scale = math.Max(o.scale, math.Abs(g))
		}
		num, err := differences(t, opt.H, l0, r, forward, func(_ int, n numeric) bool {
			_, _, ok := o.judge(n, 1)
			return ok
		})
		if err != nil {
			return err
		}
		for pass := 0; pass < 2; pass++ {
			factor := 1.0
			if passFactor {
				factor = float64(pass + 1)
			}
			label := what
			if pass == 1 {
				label += " after a second Backward"
				if passFactor {
					label += " (accumulated: twice the difference)"
				}
			}
			if p := compareGrad(label, analytic[pass], num, factor, opt); p != "" {
				problems = append(problems, p)
				break // the second pass would repeat the first's failure
			}
		}
		return nil
	}
	if err := check("input gradient", x, dx, false); err != nil {
		return err
	}
	for j, p := range params {
		if err := check("gradient of "+p.Name, p.Value, [2][]float64{grads[0][j], grads[1][j]}, true); err != nil {
			return err
		}
	}
	if err := b.Sync(); err != nil {
		return wrap("backend", err)
	}
	if len(problems) > 0 {
		return fail("%s", strings.Join(problems, "; "))
	}
	return nil
}

// numeric is what central differences say about one element's derivative.
type numeric struct {
	c1, c2 float64 // central differences with steps h and 2h
	kink   float64 // |d₊ - d₋|, the gap between the one-sided differences at h
	noise  float64 // the float32 rounding expected in c1
}

// differences returns the numeric derivatives of the objective for every
// element of t, restoring t's values afterwards. Where trusted says that
// the step h gave an unreliable derivative (a kink within it), it tries
// h/4 and then h/16: the nearer a kink, the smaller the step that misses it.
func differences(t *tensor.Tensor, h, l0 float64, r []float64, objective func() (float64, []float32, error), trusted func(i int, n numeric) bool) ([]numeric, error) {
	v, err := t.Data()
	if err != nil {
		return nil, err
	}
	num := make([]numeric, len(v))
	eval := func(i int, at float32) (float64, []float32, error) {
		v[i] = at
		if err := t.Set(v); err != nil {
			return 0, nil, err
		}
		return objective()
	}
	at := func(i int, orig float32, step float64) (numeric, error) {
		var n numeric
		var up, down [2]float32
		var lu, ld [2]float64
		for k := range 2 {
			// The float32 values nearest orig ± step: the quotients divide
			// by their actual distance, which takes float32's spacing out.
			up[k], down[k] = float32(float64(orig)+step*float64(k+1)), float32(float64(orig)-step*float64(k+1))
			var ou, od []float32
			var err error
			if lu[k], ou, err = eval(i, up[k]); err != nil {
				return n, err
			}
			if ld[k], od, err = eval(i, down[k]); err != nil {
				return n, err
			}
			if k == 0 {
				n.noise = rounding(ou, od, r) / (float64(up[0]) - float64(down[0]))
			}
		}
		v[i] = orig
		u, o, d := float64(up[0]), float64(orig), float64(down[0])
		n.c1 = (lu[0] - ld[0]) / (u - d)
		n.c2 = (lu[1] - ld[1]) / (float64(up[1]) - float64(down[1]))
		n.kink = math.Abs((lu[0]-l0)/(u-o) - (l0-ld[0])/(o-d))
		return n, nil
	}
	for i, orig := range v {
		step := h * math.Max(1, math.Abs(float64(orig)))
		for try := 0; try < 3; try++ {
			if num[i], err = at(i, orig, step); err != nil {
				return nil, err
			}
			if trusted(i, num[i]) {
				break
			}
			step /= 4
		}
	}
	return num, t.Set(v)
}

// rounding estimates the float32 rounding in Σ(up-down)·R over the outputs
// that the perturbation changed (the others cancel exactly): each output
// rounded to within an ulp, with independent signs.
func rounding(up, down []float32, r []float64) float64 {
	var s float64
	for j := range up {
		if up[j] != down[j] {
			for _, o := range [2]float32{up[j], down[j]} {
				ulp := float64(math.Nextafter32(float32(math.Abs(float64(o))), float32(math.Inf(1)))) - math.Abs(float64(o))
				s += (ulp * r[j]) * (ulp * r[j])
			}
		}
	}
	return noiseFactor * math.Sqrt(s)
}

// noiseFactor allows for the roundings of several layers in each output.
const noiseFactor = 4

// judge returns the derivative that n gives for a gradient factor·n, the
// tolerance of an analytic value, and whether n can be trusted: its steps
// h and 2h agree, and so do its one-sided differences (no kink within h).
func (o Options) judge(n numeric, factor float64) (want, tol float64, ok bool) {
	want = factor * n.c1
	tol = o.Rel*math.Abs(want) + o.Abs*o.scale + factor*n.noise
	return want, tol, factor*math.Abs(n.c1-n.c2) <= tol && factor*n.kink <= tol
}

// compareGrad returns "" when got matches factor·c1 within the tolerances
// of Options on every element judged, or a description of the worst
// elements. An element is judged when its numeric derivative is
// trustworthy: c1 and c2 agree, and so do the one-sided differences (no
// kink was crossed).
func compareGrad(what string, got []float64, num []numeric, factor float64, opt Options) string {
	if len(got) != len(num) {
		return fmt.Sprintf("%s has %d values, want %d", what, len(got), len(num))
	}
	scale := 0.0
	for i := range got {
		scale = math.Max(scale, math.Max(math.Abs(got[i]), math.Abs(factor*num[i].c1)))
	}
	opt.scale = scale
	type bad struct {
		i                   int
		got, want, tol, exc float64
	}
	var worst []bad
	count, unjudged := 0, 0
	for i := range got {
		want, tol, ok := opt.judge(num[i], factor)
		if !ok {
			unjudged++ // a kink within the steps, or rounding: no verdict
			continue
		}
		d := math.Abs(got[i] - want)
		if d <= tol {
			continue
		}
		count++
		worst = append(worst, bad{i, got[i], want, tol, d / math.Max(tol, math.SmallestNonzeroFloat64)})
		for k := len(worst) - 1; k > 0 && !(worst[k].exc <= worst[k-1].exc); k-- {
			worst[k], worst[k-1] = worst[k-1], worst[k]
		}
		if len(worst) > 3 {
			worst = worst[:3]
		}
	}
	if count == 0 && 2*unjudged <= len(got) {
		return ""
	}
	if count == 0 {
		return fmt.Sprintf("%s: only %d of %d values could be judged: elsewhere the numeric derivative is unreliable (a kink such as ReLU's within the step, or float32 rounding: try another H or Seed)",
			what, len(got)-unjudged, len(got))
	}
	parts := make([]string, len(worst))
	for k, w := range worst {
		parts[k] = fmt.Sprintf("[%d] = %.6g, central difference %.6g (tolerance %.2g)", w.i, w.got, w.want, w.tol)
	}
	return fmt.Sprintf("%s: %d of %d values differ: %s", what, count, len(got), strings.Join(parts, ", "))
}

func data64(t *tensor.Tensor) ([]float64, error) {
	v, err := t.Data()
	if err != nil {
		return nil, err
	}
	w := make([]float64, len(v))
	for i, f := range v {
		w[i] = float64(f)
	}
	return w, nil
}

// describe names a module: its String, else its Go type.
func describe(m nn.Module) string {
	if s, ok := m.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", m)
}
