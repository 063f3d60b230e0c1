package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The report's published numbers that `diynn reproduce` sets beside ours.
var reportBCE = map[string]float64{"ae1": 0.40, "ae2": 0.277, "ae3": 0.27, "ae4": 0.313}

// Table 2: the report's classifiers, the size of the training split they
// train on at the report's settings (the full batch of the steps reading),
// and the report's published metrics in table2Columns' order.
var (
	table2Models = []struct {
		name, data             string
		trainSize, reportBatch int
	}{{"iris-mlp", "iris", 120, 16}, {"fmnist-tanh", "fashion-mnist", 48000, 128},
		{"fmnist-relu", "fashion-mnist", 48000, 128}, {"kmnist-relu", "kmnist", 8000, 128}}
	table2Columns = [6]string{"train loss", "test loss", "accuracy", "F1", "precision", "recall"}
	reportTable2  = map[string][6]float64{
		"iris-mlp":    {0.29, 0.33, 0.90, 0.90, 0.90, 0.90},
		"fmnist-tanh": {0.90, 0.92, 0.72, 0.72, 0.71, 0.82},
		"fmnist-relu": {0.55, 0.53, 0.81, 0.81, 0.82, 0.80},
		"kmnist-relu": {0.55, 0.64, 0.80, 0.80, 0.80, 0.80},
	}
)

const table2Intro = "## Table 2: classifiers, three ways\n\n" +
	"The report's numbers; our run at the report's settings (its architectures, model 4's final ReLU included, plain SGD at its learning rates, " +
	"no schedule, its 80/20 split of the training file) with its \"iterations\" read two ways: epochs of mini-batch SGD, and full-batch gradient steps; " +
	"and our defaults (Adam, see docs/RESULTS.md).\n\n" +
	"| model | data | run | evaluated on | train loss | test loss | accuracy | macro F1 | macro precision | macro recall |\n" +
	"|---|---|---|---|---|---|---|---|---|---|\n"

// table2Metrics reads a classifier run's metrics in table2Columns' order
// (the test loss is the evaluation set's, a hold-out or the test file).
func table2Metrics(m map[string]any) [6]float64 {
	return [6]float64{num(m, "train_loss"), num(m, "eval_loss"), num(m, "accuracy"), num(m, "macro_f1"), num(m, "macro_precision"), num(m, "macro_recall")}
}

// nearerReading says which of two runs, a (epochs) and b (steps), is
// nearer the report's figures by the mean absolute difference over the
// metrics both have; a tie or nothing to compare is "neither".
func nearerReading(report, a, b [6]float64) (nearer string, da, db float64) {
	n := 0
	for i := range report {
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) || math.IsNaN(report[i]) {
			continue
		}
		da += math.Abs(a[i] - report[i])
		db += math.Abs(b[i] - report[i])
		n++
	}
	if n == 0 {
		return "neither", math.NaN(), math.NaN()
	}
	da, db = da/float64(n), db/float64(n)
	switch {
	case da < db:
		return "epochs", da, db
	case db < da:
		return "steps", da, db
	}
	return "neither", da, db
}

// farCells names the metrics where got is not within tol of the report
// (a missing value counts as not within), as "accuracy 0.6312 vs 0.81".
func farCells(report, got [6]float64, tol float64) []string {
	var far []string
	for i, r := range report {
		if !(math.Abs(got[i]-r) <= tol+1e-9) { // 0.80-0.75 is 0.05000000000000004 in float64
			far = append(far, fmt.Sprintf("%s %s vs %.2f", table2Columns[i], f4(got[i]), r))
		}
	}
	return far
}

// dots is experiment 1: a two-layer network on synthetic 2-D data.
func (r *reproducer) dots() error {
	r.experiment("a two-layer network on synthetic dots")
	m1, err := r.train("exp1-dots", append([]string{"-data", "dots", "-model", "linear(2,16) tanh linear(16,4)", "-lr", "0.01"}, r.trainExtra...)...)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.md, "## Experiment 1: two-layer network on dots\n\nFour Gaussian blobs, `linear(2,16) tanh linear(16,4)`: test accuracy %s.\n\n![curves](exp1-dots/curves.png)\n\n", f4(num(m1, "accuracy")))

	return nil
}

// table2 is experiment 1's Table 2: the classifiers, three ways.
func (r *reproducer) table2() error {
	r.experiment("Table 2: classifiers")
	r.md.WriteString(table2Intro)
	var far []string
	for _, c := range table2Models {
		data := c.data
		if c.data == "kmnist" {
			data += " (test file only)"
		}
		runs := []struct{ name, label string }{{"exp2-" + c.name + "-report-epochs", "ours, report's settings, iterations = epochs (batch " + strconv.Itoa(c.reportBatch) + ")"},
			{"exp2-" + c.name + "-report-steps", "ours, report's settings, iterations = full-batch steps"}, {"exp2-" + c.name, "ours, our defaults"}}
		var got [3][6]float64
		for i, run := range runs {
			args := []string{"-data", c.data, "-model", c.name}
			if c.data == "kmnist" {
				args = append(args, "-test-only")
			}
			if i < 2 {
				args = append(args, "-report")
			}
			batch := c.trainSize
			if r.quick {
				if c.data == "iris" {
					args = append(args, "-epochs", "20")
				} else {
					args = append(args, r.trainExtra...)
					batch = min(batch, 3000) // -limit 3000
				}
			}
			if i == 1 {
				args = append(args, "-batch", strconv.Itoa(batch))
			}
			m, err := r.train(run.name, args...)
			if err != nil {
				return err
			}
			got[i] = table2Metrics(m)
		}
		set := map[string]string{"iris": "80/20 of the training file", "kmnist": "80/20 of the test file"}[c.data]
		if set == "" {
			set = "official test file"
		}
		row := func(who, eval string, v [6]float64) {
			fmt.Fprintf(r.md, "| %s | %s | %s | %s |", c.name, data, who, eval)
			for _, x := range v {
				fmt.Fprintf(r.md, " %s |", f4(x))
			}
			r.md.WriteString("\n")
		}
		row("report", "80/20 of the training file", reportTable2[c.name])
		row(runs[0].label, "80/20 of the "+map[bool]string{true: "test", false: "training"}[c.data == "kmnist"]+" file", got[0])
		row(runs[1].label, "80/20 of the "+map[bool]string{true: "test", false: "training"}[c.data == "kmnist"]+" file", got[1])
		row(runs[2].label, set, got[2])
		nearer, da, db := nearerReading(reportTable2[c.name], got[0], got[1])
		fmt.Fprintf(r.md, "| %s | | nearer the report: %s (mean absolute difference: epochs %.3f, steps %.3f) | | | | | | | |\n", c.name, nearer, da, db)
		for i, reading := range []string{"epochs", "steps"} {
			for _, cell := range farCells(reportTable2[c.name], got[i], 0.05) {
				far = append(far, fmt.Sprintf("%s (%s) %s", c.name, reading, cell))
			}
		}
	}
	r.md.WriteString("\nEvery precision, recall and F1 is the macro average (the unweighted mean over the classes); the report does not say which averaging it used. " +
		"The report's runs evaluate on 20% of the training file; our defaults on the official test file (Iris has none: 80/20 of its 150; kmnist: 80/20 of its test file, whose training images are not here).\n\n")
	if len(far) > 0 {
		fmt.Fprintf(r.md, "Not within 0.05 of the report at its settings: %s.\n\n", strings.Join(far, "; "))
	} else {
		r.md.WriteString("Every cell at the report's settings is within 0.05 of the report's.\n\n")
	}
	r.md.WriteString("![fmnist-relu](exp2-fmnist-relu/confusion.png)\n\n")

	return nil
}

// table3 is experiment 2 (Table 3): the autoencoders, ours and at the report's settings.
func (r *reproducer) table3() error {
	r.experiment("Table 3: autoencoders")
	r.md.WriteString("## Table 3: autoencoders, test binary cross-entropy\n\n| model | ours | report's settings, our run | report |\n|---|---|---|---|\n")
	for _, ae := range []string{"ae1", "ae2", "ae3", "ae4"} {
		ours, err := r.train("exp3-"+ae, append([]string{"-data", "fashion-mnist", "-model", ae}, r.aeExtra...)...)
		if err != nil {
			return err
		}
		theirs := math.NaN()
		if r.reportSettings {
			m, err := r.train("exp3-"+ae+"-report", append([]string{"-data", "fashion-mnist", "-model", ae, "-report"}, r.aeExtra...)...)
			if err != nil {
				return err
			}
			theirs = num(m, "eval_bce")
		}
		fmt.Fprintf(r.md, "| %s | %s | %s | %.3f |\n", ae, f4(num(ours, "eval_bce")), f4(theirs), reportBCE[ae])
	}
	r.md.WriteString("\n![ae2 reconstructions](exp3-ae2/reconstructions.png)\n\n")

	return nil
}
