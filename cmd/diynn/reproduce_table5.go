package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/diynn/diynn/model"
)

// Table 5 (experiment 4 of the report): the classifiers of Table 2 retrained
// on what autoencoders 2, 3 and 4 make of the images. The report's text says
// both "reconstructed images" and "representations in the latent space", so
// both readings run (-features recon and -features latent), each once at the
// report's settings and once at our defaults, beside the report's figures.

// table5Dataset is one half of Table 5: a classifier of Table 2 on its data.
type table5Dataset struct {
	short, data, model string
	title              string // the README's heading for this half
	testOnly           bool   // the training images are not here: -test-only
	// The report's figures in table2Columns' order: "raw" and each autoencoder.
	report map[string][6]float64
}

var (
	table5Datasets = []table5Dataset{
		{short: "fmnist", data: "fashion-mnist", model: "fmnist-relu", title: "Fashion-MNIST, fmnist-relu (the report's model 3)",
			report: map[string][6]float64{
				"raw": {0.55, 0.53, 0.81, 0.81, 0.82, 0.80},
				"ae2": {0.95, 0.95, 0.69, 0.68, 0.70, 0.69},
				"ae3": {0.89, 0.89, 0.70, 0.70, 0.71, 0.70},
				"ae4": {1.77, 1.78, 0.34, 0.31, 0.34, 0.34},
			}},
		{short: "kmnist", data: "kmnist", model: "kmnist-relu", testOnly: true,
			title: "Kuzushiji-MNIST (test file only), kmnist-relu (the report's model 4)",
			report: map[string][6]float64{
				"raw": {0.55, 0.64, 0.80, 0.80, 0.80, 0.80},
				"ae2": {0.97, 0.99, 0.67, 0.67, 0.69, 0.69},
				"ae3": {0.99, 1.05, 0.64, 0.57, 0.54, 0.64},
				"ae4": {1.89, 1.90, 0.33, 0.30, 0.31, 0.33},
			}},
	}
	table5AEs      = []string{"ae2", "ae3", "ae4"}
	table5Features = []string{"recon", "latent"}
)

// table5Run names the run of d's classifier on autoencoder ae's features
// feat, at the report's settings (report) or at our defaults.
func table5Run(d table5Dataset, ae, feat string, report bool) string {
	name := "exp5-" + d.short + "-" + ae + "-" + feat
	if report {
		name += "-report"
	}
	return name
}

// table5RawRuns are Table 2's runs of d's classifier on the raw pixels: at
// the report's settings (the epochs reading) and at our defaults.
func table5RawRuns(d table5Dataset) (report, ours string) {
	return "exp2-" + d.model + "-report-epochs", "exp2-" + d.model
}

// table5Args are the training flags of table5Run(d, ae, feat, report): the
// features of the autoencoder that Table 3 trained at the same settings.
func (r *reproducer) table5Args(d table5Dataset, ae, feat string, report bool) []string {
	aeRun := "exp3-" + ae
	if report {
		aeRun += "-report"
	}
	args := []string{"-data", d.data, "-model", d.model}
	if d.testOnly {
		args = append(args, "-test-only")
	}
	if report {
		args = append(args, "-report")
	}
	args = append(args, "-preprocess", filepath.Join(r.dir, aeRun, "model.safetensors"), "-features", feat)
	return append(args, r.trainExtra...)
}

// table5 is experiment 4 (Table 5): classifiers on the autoencoders'
// reconstructions and codes, both readings, at the report's settings and
// ours, beside the report's figures.
func (r *reproducer) table5() error {
	r.experiment("Table 5: classifiers on the autoencoders' reconstructions and codes")
	aes := table5AEs // all three in quick mode too: 24 short runs, about 20 s
	r.md.WriteString(table5Intro)
	if !r.reportSettings {
		r.md.WriteString("The rows at the report's settings on autoencoder features were not run: `-report-settings=false` trains no autoencoder at the report's settings (Table 3).\n\n")
	}
	var far []string
	for _, d := range table5Datasets {
		runs := map[string]map[string]any{}
		repRaw, ourRaw := table5RawRuns(d)
		for _, name := range []string{repRaw, ourRaw} { // Table 2 ran them
			m, err := r.metrics(name)
			if err != nil {
				return fmt.Errorf("table 5's raw-pixel rows reuse table 2's run %s: %w", name, err)
			}
			runs[name] = m
		}
		for _, ae := range aes {
			for _, feat := range table5Features {
				for _, report := range []bool{true, false} {
					if report && !r.reportSettings {
						continue
					}
					name := table5Run(d, ae, feat, report)
					m, err := r.train(name, r.table5Args(d, ae, feat, report)...)
					if err != nil {
						return err
					}
					runs[name] = m
				}
			}
		}
		md, f := table5Section(d, aes, r.reportSettings, runs)
		r.md.WriteString(md)
		far = append(far, f...)
	}
	r.md.WriteString(table5Notes)
	if len(far) > 0 {
		fmt.Fprintf(r.md, "Not within 0.05 of the report at its settings:\n\n- %s\n\n", strings.Join(far, "\n- "))
	} else {
		r.md.WriteString("Every cell at the report's settings is within 0.05 of the report's.\n\n")
	}
	return nil
}

const table5Intro = "## Table 5: classifiers after autoencoder preprocessing, both readings\n\n" +
	"The report retrains model 3 (`fmnist-relu`, Fashion-MNIST) and model 4 (`kmnist-relu`, Kuzushiji-MNIST) on what autoencoders 2, 3 and 4 make of the images, " +
	"\"with the settings of experiment 1\". Its text says both \"reconstructed images\" and \"representations in the latent space\", and does not say which its figures are " +
	"(its classifiers keep `Linear(784, …)`, which fits reconstructions), so both readings run: **recon**, the autoencoder's 784-pixel reconstructions " +
	"(`-features recon`), and **latent**, its code (`-features latent`: the classifier's first layer then takes the code's width). Each reading runs twice:\n\n" +
	"- **report's settings**: `diynn train -model M -report -preprocess DIR/exp3-aeN-report/model.safetensors` — plain SGD at the report's rate (0.1), " +
	"its 80/20 split of the training file, 100 epochs of mini-batch SGD at batch 128 (the \"epochs\" reading of its iterations, which Table 2 found nearer the report for models 3 and 4), " +
	"on the features of the autoencoder trained with the report's settings (Table 3's `exp3-aeN-report`);\n" +
	"- **our defaults**: `diynn train -model M -preprocess DIR/exp3-aeN/model.safetensors` — the preset's defaults (Adam, cosine schedule) on the official test split, " +
	"on the features of Table 3's `exp3-aeN` (our defaults).\n\n" +
	"The raw-pixel rows are Table 2's runs (`exp2-M-report-epochs` and `exp2-M`). The report trains its autoencoders on Fashion-MNIST only (Table 3): " +
	"for Kuzushiji-MNIST the same Fashion-MNIST autoencoders transform the KMNIST images. Kuzushiji-MNIST is the **test file only**: its training images are not here, " +
	"so every KMNIST run, at either settings, trains on 80% of its official test file and is evaluated on the other 20% (`-test-only`), " +
	"where the report used 48 000 / 12 000 of its training file.\n\n"

const table5Notes = "Every precision, recall and F1 is the **macro** average (the unweighted mean over the classes); the report does not say which averaging it used. " +
	"\"Test loss\" is the cross-entropy on the evaluation set named. \"Values per image\" is what the classifier reads: 784 for raw pixels and reconstructions, the code's width for latent codes. " +
	"\"Seconds\" is the training time of the run (metrics.json's `seconds`), without loading the data and passing it through the autoencoder. " +
	"The \"nearer\" lines compare the two readings at the report's settings by the mean absolute difference from the report's figures over the six metrics.\n\n"

// table5Columns heads each half of Table 5.
const table5Columns = "| features | values per image | run | train / eval images | evaluated on | train loss | test loss | accuracy | macro F1 | macro precision | macro recall | seconds |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|\n"

// table5Section writes d's half of Table 5 from runs (metrics.json maps by
// run name) and returns it with the cells of its report-settings rows that
// are not within 0.05 of the report's figures, one entry per row. A run missing from runs is
// a row saying it was not run.
func table5Section(d table5Dataset, aes []string, reportSettings bool, runs map[string]map[string]any) (string, []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n%s", d.title, table5Columns)
	reportRow := func(features, values string, v [6]float64) {
		b.WriteString(table5Cells(features, values, "report", "48000 / 12000", "80/20 of the training file", v, math.NaN()))
	}
	var far []string
	ourRow := func(features, name string, report bool) [6]float64 {
		m, ok := runs[name]
		if !ok {
			label := "ours, our defaults"
			if report {
				label = "ours, report's settings"
			}
			b.WriteString(table5Cells(features, "", label+": not run", "", "", [6]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}, math.NaN()))
			return [6]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}
		}
		v := table2Metrics(m)
		b.WriteString(table5Cells(features, valuesPerImage(m), runLabel(m, report), sampleCounts(m), evaluatedOn(m), v, num(m, "seconds")))
		return v
	}
	repRaw, ourRaw := table5RawRuns(d)
	reportRow("raw pixels", "784", d.report["raw"])
	got := ourRow("raw pixels", repRaw, true)
	far = appendFar(far, d.model+" raw pixels", farCells(d.report["raw"], got, 0.05))
	ourRow("raw pixels", ourRaw, false)
	for _, ae := range aes {
		reportRow(ae+" (recon or latent: not said)", "784 (its first layer)", d.report[ae])
		var atReport [2][6]float64
		for i, feat := range table5Features {
			features := ae + " " + feat
			if reportSettings {
				atReport[i] = ourRow(features, table5Run(d, ae, feat, true), true)
				far = appendFar(far, d.model+" "+features, farCells(d.report[ae], atReport[i], 0.05))
			}
			ourRow(features, table5Run(d, ae, feat, false), false)
		}
		if reportSettings {
			nearer, dRecon, dLatent := nearerFeatures(d.report[ae], atReport[0], atReport[1])
			fmt.Fprintf(&b, "| %s | | nearer the report at its settings: %s (mean absolute difference: recon %.3f, latent %.3f) | | | | | | | | | |\n",
				ae, nearer, dRecon, dLatent)
		}
	}
	b.WriteString("\n")
	return b.String(), far
}

// appendFar adds a row's far cells to far as one entry, "ROW: CELL, CELL"
// ("ROW: every cell (…)" when none is within), if it has any.
func appendFar(far []string, row string, cells []string) []string {
	switch len(cells) {
	case 0:
		return far
	case len(table2Columns):
		return append(far, row+": every cell ("+strings.Join(cells, ", ")+")")
	}
	return append(far, row+": "+strings.Join(cells, ", "))
}

// nearerFeatures says which reading at the report's settings, recon or
// latent, lands nearer the report's figures (nearerReading's measure).
func nearerFeatures(report, recon, latent [6]float64) (nearer string, dRecon, dLatent float64) {
	n, dRecon, dLatent := nearerReading(report, recon, latent) // a is recon, b latent
	switch n {
	case "epochs":
		n = "recon"
	case "steps":
		n = "latent"
	}
	return n, dRecon, dLatent
}

// table5Cells is one row of Table 5.
func table5Cells(features, values, run, counts, evalOn string, v [6]float64, seconds float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |", features, values, run, counts, evalOn)
	for _, x := range v {
		fmt.Fprintf(&b, " %s |", f4(x))
	}
	secs := "–"
	if !math.IsNaN(seconds) {
		secs = strconv.FormatFloat(seconds, 'f', 1, 64)
	}
	fmt.Fprintf(&b, " %s |\n", secs)
	return b.String()
}

// valuesPerImage is the width of what a classifier run read: the inputs of
// the first linear layer of its metrics' "model" spec.
func valuesPerImage(m map[string]any) string {
	spec, _ := m["model"].(string)
	layers, err := model.Parse(spec)
	if err != nil {
		return "–"
	}
	for _, l := range layers {
		if l.Kind == "linear" && len(l.Args) > 0 {
			return strconv.FormatFloat(l.Args[0], 'f', -1, 64)
		}
	}
	return "–"
}

// runLabel names a run and the settings it trained with, from its metrics.
func runLabel(m map[string]any, report bool) string {
	who := "ours, our defaults"
	if report {
		who = "ours, report's settings"
	}
	opt, _ := m["optimizer"].(string)
	return fmt.Sprintf("%s (%s lr %g, %g epochs, batch %g)", who, opt, num(m, "lr"), num(m, "epochs"), num(m, "batch"))
}

// sampleCounts is "TRAIN / EVAL" images of a run.
func sampleCounts(m map[string]any) string {
	return fmt.Sprintf("%g / %g", num(m, "train_samples"), num(m, "eval_samples"))
}

// evaluatedOn names the evaluation set of a run from its metrics: a
// hold-out of the test file (-test-only), of the training file, or the
// official test file.
func evaluatedOn(m map[string]any) string {
	testOnly, _ := m["test_only"].(bool)
	val := num(m, "val")
	hold := fmt.Sprintf("%g/%g", math.Round((1-val)*100), math.Round(val*100))
	switch {
	case testOnly:
		return hold + " of the test file"
	case val > 0:
		return hold + " of the training file"
	}
	return "official test file"
}
