package main

import (
	"math"
	"strings"
	"testing"
)

// The report's classifiers train at its Table 2 settings under -report:
// plain SGD at its rates, no schedule, its iteration counts as epochs, and
// its 80/20 split of the training file unless -val says otherwise; -batch
// turns the epochs into full-batch steps. Autoencoders keep the official
// test split.
func TestReportSettingsForClassifiers(t *testing.T) {
	want := map[string]struct {
		lr             float64
		epochs, batch  int
		data, lastSpec string
	}{
		"iris-mlp":    {0.01, 1000, 16, "iris", "linear(4,3)"},
		"fmnist-tanh": {0.01, 100, 128, "fashion-mnist", "linear(42,10)"},
		"fmnist-relu": {0.1, 100, 128, "fashion-mnist", "linear(42,10)"},
		"kmnist-relu": {0.1, 100, 128, "kmnist", "linear(42,10) relu"}, // model 4's final ReLU
	}
	settle := func(args ...string) (*trainOptions, *trainPlan) {
		t.Helper()
		o := newTrainOptions()
		if err := o.fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		p, err := o.settle()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return o, p
	}
	for name, w := range want {
		o, p := settle("-data", w.data, "-model", name, "-report")
		s := p.preset
		if s.Optim != "sgd" || s.LR != w.lr || s.Schedule != "const" || s.Epochs != w.epochs || s.Batch != w.batch || *o.val != 0.2 {
			t.Errorf("%s -report: %s lr %v schedule %s, %d epochs, batch %d, val %v; want sgd lr %v const, %d epochs, batch %d, val 0.2",
				name, s.Optim, s.LR, s.Schedule, s.Epochs, s.Batch, *o.val, w.lr, w.epochs, w.batch)
		}
		if !strings.HasSuffix(s.Spec, w.lastSpec) || (name != "kmnist-relu" && strings.HasSuffix(s.Spec, "relu")) {
			t.Errorf("%s: spec %q should end with %q", name, s.Spec, w.lastSpec)
		}
		if _, p := settle("-data", w.data, "-model", name, "-report", "-batch", "48000"); p.preset.Batch != 48000 || p.preset.Epochs != w.epochs {
			t.Errorf("%s -report -batch 48000: batch %d, %d epochs", name, p.preset.Batch, p.preset.Epochs)
		}
		if o, _ := settle("-data", w.data, "-model", name, "-report", "-val", "0.1"); *o.val != 0.1 {
			t.Errorf("%s -report -val 0.1: val %v", name, *o.val)
		}
		if o, _ := settle("-data", w.data, "-model", name); *o.val != 0 {
			t.Errorf("%s without -report: val %v, want 0 (the official test split)", name, *o.val)
		}
	}
	if o, p := settle("-model", "ae2", "-report"); *o.val != 0 || p.preset.Optim != "sgd" {
		t.Errorf("ae2 -report: val %v (the report's autoencoders used the test file), optimizer %s", *o.val, p.preset.Optim)
	}
}

func TestNearerReadingAndFarCells(t *testing.T) {
	report := [6]float64{0.5, 0.5, 0.8, 0.8, 0.8, 0.8}
	a := [6]float64{0.5, 0.5, 0.8, 0.8, 0.8, 0.86} // mean |Δ| 0.01
	b := [6]float64{0.6, 0.6, 0.7, 0.7, 0.7, 0.7}  // mean |Δ| 0.1
	if n, da, db := nearerReading(report, a, b); n != "epochs" || math.Abs(da-0.01) > 1e-12 || math.Abs(db-0.1) > 1e-12 {
		t.Errorf("nearerReading(a, b) = %s %v %v, want epochs 0.01 0.1", n, da, db)
	}
	if n, _, _ := nearerReading(report, b, a); n != "steps" {
		t.Errorf("nearerReading(b, a) = %s, want steps", n)
	}
	if n, _, _ := nearerReading(report, a, a); n != "neither" {
		t.Errorf("a tie: %s, want neither", n)
	}
	// A metric one run lacks is left out of both means.
	c := a
	c[0] = math.NaN()
	if n, da, _ := nearerReading(report, c, b); n != "epochs" || math.Abs(da-0.012) > 1e-12 {
		t.Errorf("with a NaN: %s %v, want epochs 0.012", n, da)
	}
	far := farCells(report, [6]float64{0.5, 0.549, 0.75, 0.8 - 0.0501, math.NaN(), 0.8}, 0.05)
	if len(far) != 2 || !strings.HasPrefix(far[0], "F1 0.7499 vs 0.80") || !strings.HasPrefix(far[1], "precision – vs 0.80") {
		t.Errorf("farCells = %q, want F1 and precision (missing) only", far)
	}
	for name := range reportTable2 {
		found := false
		for _, m := range table2Models {
			found = found || m.name == name
		}
		if !found {
			t.Errorf("reportTable2 has %s, which Table 2 does not run", name)
		}
	}
}
