package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/diynn/diynn/internal/rundir"
)

// reproducer runs the report's experiments as diynn subcommands into one
// directory: each step's output in its own folder, its log in DIR/logs,
// and the summary in DIR/README.md. Each experiment is a method in a file
// of its own (reproduce_*.go) that appends its section to md.
type reproducer struct {
	dir    string
	quick  bool
	resume bool // reuse the steps an earlier, interrupted run of this -out completed
	// Flags passed on: common to every step (-backend), to the steps that
	// read image files (-data-dir), and to every training (-overwrite).
	common, imageDataDir, trainOverwrite []string
	// Quick mode's subsets: extra training flags, and the t-SNE's size.
	trainExtra, aeExtra   []string
	tsneIters, tsnePoints string
	reportSettings        bool
	progress              io.Writer
	// md is the README section being written: the experiment's, which
	// experiment starts. Sections run in an order that reuses the slow
	// steps' outputs early, and are written in the report's order.
	md       *strings.Builder
	sections []section
	costs    []stepCost
}

// section is one experiment's part of the README, with its rank in it.
type section struct {
	rank int
	text *strings.Builder
}

// stepCost is one step's wall time, for the README's account of where the
// run's time went; reused steps keep the time they took when they ran.
type stepCost struct {
	experiment, name string
	seconds          float64
	reused           bool
}

// stepRecord is DIR/logs/NAME.done, written when a step succeeds: -resume
// reuses a step only if its arguments are the same, and so are the files
// of the reproduction that they name (an autoencoder that a later Table
// reads, trained again, makes every step that read it run again).
type stepRecord struct {
	Args    []string          `json:"args"`
	Inputs  map[string]string `json:"inputs,omitempty"` // path → SHA-256 of the files in DIR the arguments name
	Seconds float64           `json:"seconds"`
}

// inputsOf hashes the regular files inside the reproduction's directory
// that args name: the outputs of earlier steps that a step reads.
func (r *reproducer) inputsOf(args []string) (map[string]string, error) {
	var in map[string]string
	for _, a := range args {
		rel, err := filepath.Rel(r.dir, a)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			continue
		}
		st, err := os.Stat(a)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(a)
		if err != nil {
			return nil, err
		}
		if in == nil {
			in = map[string]string{}
		}
		in[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
	}
	return in, nil
}

// experiment names the part of the run that the following steps belong to.
func (r *reproducer) experiment(title string) {
	fmt.Fprintln(r.progress, title)
	r.costs = append(r.costs, stepCost{experiment: title})
}

// runExperiments runs each experiment in the order given, each writing its
// README section, and returns the sections in the order of their ranks.
// After each experiment but the last, partial (if set) gets the sections
// so far, so that a run of hours can be read while it goes on.
func (r *reproducer) runExperiments(exps []rankedExperiment, partial func(done string) error) (string, error) {
	for i, e := range exps {
		r.md = &strings.Builder{}
		r.sections = append(r.sections, section{rank: e.rank, text: r.md})
		if err := e.run(); err != nil {
			return "", err
		}
		if partial != nil && i+1 < len(exps) {
			if err := partial(r.joined()); err != nil {
				return "", err
			}
		}
	}
	return r.joined(), nil
}

// joined is the sections written so far, in the order of their ranks.
func (r *reproducer) joined() string {
	sorted := slices.Clone(r.sections)
	slices.SortStableFunc(sorted, func(a, b section) int { return a.rank - b.rank })
	var all strings.Builder
	for _, s := range sorted {
		all.WriteString(s.text.String())
	}
	return all.String()
}

// rankedExperiment is an experiment and its section's rank in the README.
type rankedExperiment struct {
	rank int
	run  func() error
}

// step runs `diynn args…` with its output in DIR/logs/NAME.log and returns
// that output; with -resume, a step that completed before with the same
// arguments is not run again and its log is returned.
func (r *reproducer) step(name string, args ...string) (string, error) {
	logPath := filepath.Join(r.dir, "logs", name+".log")
	donePath := filepath.Join(r.dir, "logs", name+".done")
	exp := ""
	if len(r.costs) > 0 {
		exp = r.costs[len(r.costs)-1].experiment
	}
	asked := args // what the record keeps: -resume compares it, not the flags added below
	inputs, err := r.inputsOf(args)
	if err != nil {
		return "", err
	}
	if r.resume {
		var rec stepRecord
		b, err := os.ReadFile(donePath)
		if err == nil && json.Unmarshal(b, &rec) == nil && slices.Equal(rec.Args, args) && maps.Equal(rec.Inputs, inputs) {
			if out, err := os.ReadFile(logPath); err == nil {
				fmt.Fprintf(r.progress, "  %-28s reused (took %.0fs before)\n", name, rec.Seconds)
				r.costs = append(r.costs, stepCost{experiment: exp, name: name, seconds: rec.Seconds, reused: true})
				return string(out), nil
			}
		}
		// Not completed, or with other arguments: its partial outputs go.
		os.Remove(donePath)
		if i := slices.Index(args, "-out"); i >= 0 && i+1 < len(args) && args[0] == "train" && !slices.Contains(args, "-overwrite") {
			args = append(slices.Clip(args), "-overwrite")
		}
	}
	fmt.Fprintf(r.progress, "  %-28s diynn %s\n", name, strings.Join(args, " "))
	start := time.Now()
	var out bytes.Buffer
	code := run(args, &out, &out)
	if err := writeFileAtomic(logPath, out.Bytes()); err != nil {
		return "", err
	}
	if code != 0 {
		return "", fmt.Errorf("%s failed (exit %d); see %s:\n%s", name, code, logPath, lastLines(out.String(), 5))
	}
	secs := time.Since(start).Seconds()
	r.costs = append(r.costs, stepCost{experiment: exp, name: name, seconds: secs})
	rec, err := json.Marshal(stepRecord{Args: asked, Inputs: inputs, Seconds: secs})
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(donePath, rec); err != nil {
		return "", err
	}
	fmt.Fprintf(r.progress, "  %-28s done in %.0fs\n", "", secs)
	return out.String(), nil
}

// train runs `diynn train` into DIR/NAME and returns its metrics.json.
func (r *reproducer) train(name string, args ...string) (map[string]any, error) {
	dir := filepath.Join(r.dir, name)
	full := append(append(append([]string{"train", "-quiet", "-out", dir}, r.common...), r.trainOverwrite...), args...)
	if i := slices.Index(args, "-data"); i >= 0 && i+1 < len(args) && imageData(args[i+1]) {
		full = append(full, r.imageDataDir...)
	}
	if _, err := r.step(name, full...); err != nil {
		return nil, err
	}
	return r.metrics(name)
}

// metrics reads the metrics.json of the run in DIR/NAME.
func (r *reproducer) metrics(name string) (map[string]any, error) {
	return readMetrics(filepath.Join(r.dir, name, "metrics.json"))
}

// embed runs `diynn embed` of the autoencoder trained in DIR/RUN, writing
// DIR/NAME.csv and .npy; limit (if not empty) takes the first images only,
// and extra flags follow.
func (r *reproducer) embed(name, run, limit string, extra ...string) (string, error) {
	prefix := filepath.Join(r.dir, name)
	args := append(append([]string{"embed", "-model", filepath.Join(r.dir, run, "model.safetensors"), "-out", prefix}, r.common...), r.imageDataDir...)
	if limit != "" {
		args = append(args, "-limit", limit)
	}
	if _, err := r.step(name, append(args, extra...)...); err != nil {
		return "", err
	}
	return prefix, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func readMetrics(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	return m, json.Unmarshal(b, &m)
}

func num(m map[string]any, key string) float64 {
	if v, ok := m[key].(float64); ok {
		return v
	}
	return math.NaN()
}

func f4(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

var klLine = regexp.MustCompile(`KL divergence ([0-9.]+);`)

// reproduceHeading starts the README.md that reproduce writes first (as a
// marker, "in progress") and last (the tables): how it knows a directory
// of its own, even one an interrupted reproduction left.
const reproduceHeading = "# diynn reproduce\n"

// checkReproduceDir lets reproduce write into dir only if it is new or
// empty, or holds an earlier reproduction and -overwrite or -resume was
// passed: a directory of anything else (a training run, a user's files) is
// never written into.
func checkReproduceDir(dir string, overwrite, resume bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return usagef("-out: %v", err)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	ours := err == nil && strings.HasPrefix(string(readme), reproduceHeading)
	var names []string
	for _, e := range entries {
		if e.Name() != ".lock" {
			names = append(names, e.Name())
		}
	}
	switch {
	case len(names) == 0:
		return nil
	case !ours:
		return usagef("-out %s holds files that are not a reproduction's (%s): choose a new or empty directory", dir, strings.Join(names, ", "))
	case !overwrite && !resume:
		return usagef("-out %s already holds a reproduction: pass -resume to reuse its completed steps, -overwrite to replace it, or choose another -out", dir)
	}
	return nil
}

func reproduceCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("diynn reproduce", flag.ContinueOnError)
	out := fs.String("out", "runs/reproduce", "directory for every run, figure and the summary README.md")
	quick := fs.Bool("quick", false, "a small version of the same pipeline (subsets, few epochs and iterations): minutes instead of hours")
	dataDir := fs.String("data-dir", "", "directory with the dataset files")
	backendName := fs.String("backend", "auto", "auto, cpu, opencl or cuda")
	reportSettings := fs.Bool("report-settings", true, "also train the autoencoders with the report's settings")
	overwrite := fs.Bool("overwrite", false, "replace an earlier reproduction in -out")
	resume := fs.Bool("resume", false, "continue an interrupted reproduction in -out: the steps it completed with the same settings are reused, the others run again")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if err := checkBackendName(*backendName); err != nil {
		return err
	}
	if err := refuseEmpty(fs, "data-dir"); err != nil {
		return err
	}
	if *overwrite && *resume {
		return usagef("-resume reuses the reproduction in -out and -overwrite replaces it: pass one of them")
	}
	if strings.TrimSpace(*out) == "" {
		return usagef("-out is empty: name a directory (default runs/reproduce)")
	}
	if st, err := os.Stat(*out); err == nil && !st.IsDir() {
		return usagef("-out %s is a file, not a directory", *out)
	}
	if err := checkReproduceDir(*out, *overwrite, *resume); err != nil { // before anything is created
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return usagef("-out: %v", err)
	}
	lock, err := rundir.Acquire(*out)
	if err != nil {
		if errors.Is(err, rundir.ErrBusy) {
			return usagef("-out %v", err)
		}
		return usagef("-out: %v", err)
	}
	defer lock.Release()
	if err := checkReproduceDir(*out, *overwrite, *resume); err != nil { // again, now that no other run can write
		return err
	}
	started := time.Now()
	if err := writeFileAtomic(filepath.Join(*out, "README.md"),
		[]byte(reproduceHeading+"\nIn progress (started "+started.UTC().Format("2006-01-02 15:04 UTC")+"): this file gets the tables when every experiment is done.\n")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(*out, "logs"), 0o755); err != nil {
		return err
	}
	r := &reproducer{dir: *out, quick: *quick, resume: *resume, common: []string{"-backend", *backendName},
		reportSettings: *reportSettings, progress: stdout, tsneIters: "3000"}
	if *dataDir != "" { // for the steps that read image datasets: dots and iris need no files
		r.imageDataDir = []string{"-data-dir", *dataDir}
	}
	if *overwrite {
		r.trainOverwrite = []string{"-overwrite"}
	}
	if *quick { // seeded subsets, two epochs, short t-SNE runs
		r.trainExtra = []string{"-limit", "3000", "-epochs", "2"}
		r.aeExtra = []string{"-limit", "3000", "-epochs", "2"}
		r.tsneIters, r.tsnePoints = "300", "600"
	}
	flags := ""
	if *quick {
		flags = " -quick"
	}
	var head strings.Builder
	fmt.Fprintf(&head, reproduceHeading+"\nWritten by `diynn reproduce -out %s%s` on %s. Each run's outputs are in its folder, its log in `logs/`.\n\n",
		*out, flags, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	if *quick {
		head.WriteString("**Quick mode**: subsets of 3000 training and 600 evaluation samples, 2 epochs, t-SNE on 600 points for 300 iterations. The numbers show that the pipeline works, not what the models reach.\n\n")
	}
	// The autoencoders first: Tables 4 and 5 and the perspectives use them;
	// the t-SNE maps, which take long but are the report's Table 4, before
	// the perspectives' convolutional networks, which take as long.
	partial := func(done string) error {
		return writeFileAtomic(filepath.Join(*out, "README.md"), []byte(head.String()+
			"**In progress** (started "+started.UTC().Format("2006-01-02 15:04 UTC")+"): the sections below are the experiments finished so far; the others follow when they are done.\n\n"+done))
	}
	body, err := r.runExperiments([]rankedExperiment{{1, r.dots}, {3, r.table3}, {2, r.table2}, {5, r.table5}, {4, r.table4}, {6, r.perspectives}}, partial)
	if err != nil {
		return err
	}
	r.md = &head
	r.md.WriteString(body)
	r.writeCosts(time.Since(started))
	if err := writeFileAtomic(filepath.Join(*out, "README.md"), []byte(r.md.String())); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, "README.md"))
	return nil
}

// writeCosts ends the README with where the time went: each experiment's
// steps, the whole run's sum, and how much of it this invocation ran.
func (r *reproducer) writeCosts(wall time.Duration) {
	r.md.WriteString("## Time\n\n| experiment | steps | seconds |\n|---|---|---|\n")
	var total, reused float64
	for i := 0; i < len(r.costs); {
		title, secs, steps := r.costs[i].experiment, 0.0, 0
		for i++; i < len(r.costs) && r.costs[i].name != ""; i++ {
			secs += r.costs[i].seconds
			steps++
			if r.costs[i].reused {
				reused += r.costs[i].seconds
			}
		}
		total += secs
		fmt.Fprintf(r.md, "| %s | %d | %.0f |\n", title, steps, secs)
	}
	fmt.Fprintf(r.md, "| **all** | | **%.0f** |\n\n", total)
	if reused > 0 {
		fmt.Fprintf(r.md, "This invocation ran for %.0f s; %.0f s of the total are steps an earlier, interrupted run completed (`-resume`), counted at the time they took then.\n\n", wall.Seconds(), reused)
	} else {
		fmt.Fprintf(r.md, "Wall time of the whole run: %.0f s.\n\n", wall.Seconds())
	}
}
