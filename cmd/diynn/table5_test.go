package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// table5Metrics is a hand-made metrics.json map of a classifier run.
func table5Metrics(spec string, report, testOnly bool, v [6]float64, seconds float64) map[string]any {
	m := map[string]any{"model": spec, "optimizer": "adam", "lr": 0.001, "epochs": 20.0, "batch": 128.0,
		"train_samples": 60000.0, "eval_samples": 10000.0, "val": 0.0, "test_only": testOnly, "seconds": seconds,
		"train_loss": v[0], "eval_loss": v[1], "accuracy": v[2], "macro_f1": v[3], "macro_precision": v[4], "macro_recall": v[5]}
	if report {
		m["optimizer"], m["lr"], m["epochs"], m["val"], m["train_samples"], m["eval_samples"] = "sgd", 0.1, 100.0, 0.2, 48000.0, 12000.0
	}
	if testOnly {
		m["val"], m["train_samples"], m["eval_samples"] = 0.2, 8000.0, 2000.0
	}
	return m
}

const (
	table5Pixels = "linear(784,176) tanh linear(176,42) relu linear(42,10)"
	table5Codes  = "linear(30,176) tanh linear(176,42) relu linear(42,10)"
)

// The section puts the report's figures, ours at its settings and ours at
// our defaults in the rows and columns they name, with the values per
// image, the evaluation set and the seconds read from each run, and lists
// exactly the report-settings cells more than 0.05 from the report's.
func TestTable5Section(t *testing.T) {
	d := table5Datasets[0] // fmnist-relu
	runs := map[string]map[string]any{
		"exp2-fmnist-relu-report-epochs": table5Metrics(table5Pixels, true, false, [6]float64{0.55, 0.53, 0.81, 0.81, 0.82, 0.80}, 59),
		"exp2-fmnist-relu":               table5Metrics(table5Pixels, false, false, [6]float64{0.18, 0.30, 0.89, 0.89, 0.89, 0.89}, 120),
		// recon at the report's settings: two cells far (train loss, accuracy).
		"exp5-fmnist-ae2-recon-report": table5Metrics(table5Pixels, true, false, [6]float64{0.70, 0.95, 0.80, 0.68, 0.70, 0.69}, 61.25),
		"exp5-fmnist-ae2-recon":        table5Metrics(table5Pixels, false, false, [6]float64{0.2, 0.3, 0.87, 0.87, 0.87, 0.87}, 12),
		// latent at the report's settings: every cell within 0.05, one at exactly 0.05.
		"exp5-fmnist-ae2-latent-report": table5Metrics(table5Codes, true, false, [6]float64{0.95, 0.90, 0.69, 0.68, 0.70, 0.74}, 7),
		"exp5-fmnist-ae2-latent":        table5Metrics(table5Codes, false, false, [6]float64{0.3, 0.35, 0.87, 0.87, 0.87, 0.87}, 3.04),
	}
	md, far := table5Section(d, []string{"ae2"}, true, runs)
	for _, want := range []string{
		"### Fashion-MNIST, fmnist-relu (the report's model 3)\n\n| features | values per image | run | train / eval images |",
		"| raw pixels | 784 | report | 48000 / 12000 | 80/20 of the training file | 0.5500 | 0.5300 | 0.8100 | 0.8100 | 0.8200 | 0.8000 | – |\n",
		"| raw pixels | 784 | ours, report's settings (sgd lr 0.1, 100 epochs, batch 128) | 48000 / 12000 | 80/20 of the training file | 0.5500 | 0.5300 | 0.8100 | 0.8100 | 0.8200 | 0.8000 | 59.0 |\n",
		"| raw pixels | 784 | ours, our defaults (adam lr 0.001, 20 epochs, batch 128) | 60000 / 10000 | official test file | 0.1800 | 0.3000 | 0.8900 |",
		"| ae2 (recon or latent: not said) | 784 (its first layer) | report | 48000 / 12000 | 80/20 of the training file | 0.9500 | 0.9500 | 0.6900 | 0.6800 | 0.7000 | 0.6900 | – |\n",
		"| ae2 recon | 784 | ours, report's settings (sgd lr 0.1, 100 epochs, batch 128) | 48000 / 12000 | 80/20 of the training file | 0.7000 | 0.9500 | 0.8000 | 0.6800 | 0.7000 | 0.6900 | 61.2 |\n",
		"| ae2 recon | 784 | ours, our defaults (adam lr 0.001, 20 epochs, batch 128) | 60000 / 10000 | official test file | 0.2000 |",
		"| ae2 latent | 30 | ours, report's settings (sgd lr 0.1, 100 epochs, batch 128) | 48000 / 12000 | 80/20 of the training file | 0.9500 | 0.9000 |",
		"| ae2 latent | 30 | ours, our defaults (adam lr 0.001, 20 epochs, batch 128) | 60000 / 10000 | official test file | 0.3000 | 0.3500 | 0.8700 | 0.8700 | 0.8700 | 0.8700 | 3.0 |\n",
		// recon: |0.70-0.95| + |0.80-0.69| = 0.36 over 6; latent: 0.05 + 0.05 over 6.
		"| ae2 | | nearer the report at its settings: latent (mean absolute difference: recon 0.060, latent 0.017) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("section lacks %q:\n%s", want, md)
		}
	}
	// The report's row first, then report's settings before our defaults, recon before latent.
	order := []string{"| ae2 (recon", "| ae2 recon | 784 | ours, report's", "| ae2 recon | 784 | ours, our", "| ae2 latent | 30 | ours, report's", "| ae2 latent | 30 | ours, our", "| ae2 | | nearer"}
	for i := 1; i < len(order); i++ {
		if a, b := strings.Index(md, order[i-1]), strings.Index(md, order[i]); a < 0 || b < a {
			t.Errorf("%q should come before %q", order[i-1], order[i])
		}
	}
	if n := strings.Count(md, "\n| "); n != 10 { // the header, 3 raw-pixel rows, the report's ae2, 4 of ours, the nearer line
		t.Errorf("section has %d rows, want 10:\n%s", n, md)
	}
	wantFar := []string{"fmnist-relu ae2 recon: train loss 0.7000 vs 0.95, accuracy 0.8000 vs 0.69"}
	if !slices.Equal(far, wantFar) {
		t.Errorf("far cells %q, want %q", far, wantFar)
	}
}

// Without the report's autoencoders (-report-settings=false) the
// autoencoder rows are ours only, with no comparison; a run that is missing
// is a row that says so, and counts as far from the report.
func TestTable5SectionWithoutReportSettings(t *testing.T) {
	d := table5Datasets[1] // kmnist-relu, test file only
	v := [6]float64{0.55, 0.64, 0.80, 0.80, 0.80, 0.80}
	runs := map[string]map[string]any{
		"exp2-kmnist-relu-report-epochs": table5Metrics(table5Pixels+" relu", true, true, v, 11),
		"exp2-kmnist-relu":               table5Metrics(table5Pixels+" relu", false, true, v, 11),
		"exp5-kmnist-ae3-recon":          table5Metrics(table5Pixels+" relu", false, true, v, 11),
	}
	md, far := table5Section(d, []string{"ae3"}, false, runs)
	for _, want := range []string{"### Kuzushiji-MNIST (test file only)",
		"| raw pixels | 784 | ours, report's settings (sgd lr 0.1, 100 epochs, batch 128) | 8000 / 2000 | 80/20 of the test file |",
		"| ae3 recon | 784 | ours, our defaults (adam lr 0.001, 20 epochs, batch 128) | 8000 / 2000 | 80/20 of the test file |",
		"| ae3 latent |  | ours, our defaults: not run |  |  | – | – | – | – | – | – | – |\n",
		"| ae3 (recon or latent: not said) | 784 (its first layer) | report | 48000 / 12000 | 80/20 of the training file | 0.9900 | 1.0500 | 0.6400 | 0.5700 | 0.5400 | 0.6400 | – |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("section lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "ae3 recon | 784 | ours, report's") || strings.Contains(md, "nearer") {
		t.Errorf("report-settings rows or a comparison without the report's autoencoders:\n%s", md)
	}
	if len(far) != 0 { // the raw row equals the report's
		t.Errorf("far cells %q, want none", far)
	}
	_, far = table5Section(d, []string{"ae4"}, true, runs) // ae4's runs are all missing
	if len(far) != 2 || !strings.HasPrefix(far[0], "kmnist-relu ae4 recon: every cell (train loss – vs 1.89, test loss – vs 1.90,") ||
		!strings.HasSuffix(far[1], "recall – vs 0.33)") || strings.Count(far[1], " vs ") != 6 {
		t.Errorf("missing runs at the report's settings: far cells %q, want every cell of recon and of latent", far)
	}
}

// The report's raw-pixel columns of Table 5 are its Table 2 rows for
// models 3 and 4, and its figures are typed in the table's column order.
func TestTable5ReportFigures(t *testing.T) {
	for _, d := range table5Datasets {
		if d.report["raw"] != reportTable2[d.model] {
			t.Errorf("%s: Table 5's raw column %v, Table 2's row %v", d.model, d.report["raw"], reportTable2[d.model])
		}
		for _, ae := range table5AEs {
			v, ok := d.report[ae]
			if !ok || v[2] > 0.71 || v[2] < 0.33 || v[0] < 0.89 { // accuracies 0.33-0.70, train losses 0.89-1.89
				t.Errorf("%s %s: report figures %v out of the report's ranges", d.model, ae, v)
			}
		}
	}
	if got := table5Datasets[1].report["ae3"]; got != [6]float64{0.99, 1.05, 0.64, 0.57, 0.54, 0.64} {
		t.Errorf("kmnist ae3: %v", got)
	}
}

// Every run of Table 5 has its own name, and its flags are ones diynn
// train accepts and settles as the reading says: the report's settings
// (SGD at 0.1, 100 epochs, batch 128, 80/20) on the report-settings
// autoencoder, or our defaults on ours; kmnist on its test file only.
func TestTable5Args(t *testing.T) {
	r := &reproducer{dir: "/repro"}
	names := map[string]bool{}
	for _, d := range table5Datasets {
		for _, ae := range table5AEs {
			for _, feat := range table5Features {
				for _, report := range []bool{true, false} {
					name := table5Run(d, ae, feat, report)
					if names[name] || !strings.HasPrefix(name, "exp5-"+d.short+"-"+ae+"-"+feat) {
						t.Errorf("run name %q repeated or not named by its data, autoencoder and features", name)
					}
					names[name] = true
					args := r.table5Args(d, ae, feat, report)
					o := newTrainOptions()
					if err := o.fs.Parse(args); err != nil {
						t.Fatalf("%v: %v", args, err)
					}
					plan, err := o.settle()
					if err != nil {
						t.Fatalf("%s %v: %v", name, args, err)
					}
					aeRun := map[bool]string{true: "exp3-" + ae + "-report", false: "exp3-" + ae}[report]
					p := plan.preset
					if *o.preprocessModel != filepath.Join("/repro", aeRun, "model.safetensors") || *o.features != feat ||
						*o.testOnly != d.testOnly || *o.dataName != d.data {
						t.Errorf("%s: -preprocess %s -features %s -test-only %v -data %s", name, *o.preprocessModel, *o.features, *o.testOnly, *o.dataName)
					}
					wantVal := map[bool]float64{true: 0.2, false: 0}[report]
					if report && (p.Optim != "sgd" || p.LR != 0.1 || p.Epochs != 100 || p.Batch != 128 || *o.val != wantVal) ||
						!report && (p.Optim != "adam" || *o.val != wantVal) {
						t.Errorf("%s: %s lr %v, %d epochs, batch %d, val %v", name, p.Optim, p.LR, p.Epochs, p.Batch, *o.val)
					}
				}
			}
		}
	}
	if len(names) != 24 {
		t.Errorf("%d runs, want 2 datasets × 3 autoencoders × 2 readings × 2 settings = 24", len(names))
	}
	r.trainExtra = []string{"-limit", "3000", "-epochs", "2"}
	if args := r.table5Args(table5Datasets[0], "ae2", "recon", true); !slices.Equal(args[len(args)-4:], r.trainExtra) {
		t.Errorf("quick mode's flags not passed on: %v", args)
	}
}

func TestTable5Helpers(t *testing.T) {
	for _, c := range []struct {
		m    map[string]any
		want string
	}{
		{map[string]any{"test_only": true, "val": 0.2}, "80/20 of the test file"},
		{map[string]any{"test_only": false, "val": 0.2}, "80/20 of the training file"},
		{map[string]any{"test_only": false, "val": 0.1}, "90/10 of the training file"},
		{map[string]any{"test_only": false, "val": 0.0}, "official test file"},
	} {
		if got := evaluatedOn(c.m); got != c.want {
			t.Errorf("evaluatedOn(%v) = %q, want %q", c.m, got, c.want)
		}
	}
	for spec, want := range map[string]string{table5Codes: "30", "linear(3,176) tanh linear(176,10)": "3", table5Pixels: "784", "relu": "–", "": "–"} {
		if got := valuesPerImage(map[string]any{"model": spec}); got != want {
			t.Errorf("valuesPerImage(%q) = %q, want %q", spec, got, want)
		}
	}
	if n, _, _ := nearerFeatures([6]float64{1}, [6]float64{1}, [6]float64{2}); n != "recon" {
		t.Errorf("nearer: %s, want recon", n)
	}
	if n, _, _ := nearerFeatures([6]float64{1}, [6]float64{3}, [6]float64{2}); n != "latent" {
		t.Errorf("nearer: %s, want latent", n)
	}
	if n, _, _ := nearerFeatures([6]float64{1}, [6]float64{2}, [6]float64{2}); n != "neither" {
		t.Errorf("nearer: %s, want neither", n)
	}
}

// withInputs rewrites the first linear layer for latent features, and
// refuses a spec whose input reaches a concat's heads first.
func TestWithInputs(t *testing.T) {
	for _, c := range []struct{ spec, want, err string }{
		{"linear(784,176) tanh linear(176,10)", "linear(30,176) tanh linear(176,10)", ""},
		{"tanh linear(784,10)", "tanh linear(30,10)", ""},
		{"linear(784,8) concat[linear(8,2) | linear(8,3)]", "linear(30,8) concat[linear(8,2) | linear(8,3)]", ""},
		{"concat[linear(784,2) | linear(784,3)]", "", "heads of concat"},
		{"tanh relu", "", "no linear layer"},
	} {
		got, err := withInputs(c.spec, 30)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("withInputs(%q): %q, %v; want an error with %q", c.spec, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("withInputs(%q) = %q, %v; want %q", c.spec, got, err, c.want)
		}
	}
}

// The README grows as experiments finish: after each but the last, the
// sections so far, in the report's order whatever the order they ran in.
func TestReproducePartialReadme(t *testing.T) {
	r := &reproducer{}
	exp := func(text string) func() error {
		return func() error { r.md.WriteString(text); return nil }
	}
	var partials []string
	all, err := r.runExperiments([]rankedExperiment{{1, exp("a")}, {3, exp("c")}, {2, exp("b")}},
		func(done string) error { partials = append(partials, done); return nil })
	if err != nil || all != "abc" || !slices.Equal(partials, []string{"a", "ac"}) {
		t.Errorf("runExperiments: %q, %v, partial READMEs %q; want \"abc\" and [a ac]", all, err, partials)
	}
}
