package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A validation hold-out (-val) is called validation everywhere a run
// reports it, never test: the progress and summary lines, the history's
// columns, metrics.json (eval_set, no test_loss); a test split is called
// test.
func TestEvaluationSetIsNamedEverywhere(t *testing.T) {
	for _, c := range []struct {
		args       []string
		name, not  string
		wantTestKV bool
	}{
		{[]string{"-val", "0.3"}, "validation", "test", false},
		{nil, "test", "validation", true},
	} {
		out := filepath.Join(t.TempDir(), "run")
		args := append([]string{"train", "-data", "dots", "-model", "linear(2,8) tanh linear(8,4)", "-epochs", "2", "-out", out}, c.args...)
		code, stdout, stderr := runCLI(args...)
		if code != 0 {
			t.Fatalf("diynn %v: exit %d\n%s\n%s", args, code, stdout, stderr)
		}
		all := stdout + stderr
		for _, want := range []string{c.name + " samples", "|  " + c.name + " loss", "; " + c.name + " loss"} {
			if !strings.Contains(all, want) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, want, all)
			}
		}
		if strings.Contains(all, c.not) || strings.Contains(all, "evaluation loss") {
			t.Errorf("%v: output names the %s set %q or \"evaluation\":\n%s", c.args, c.name, c.not, all)
		}
		csv, _ := os.ReadFile(filepath.Join(out, "history.csv"))
		if header, _, _ := strings.Cut(string(csv), "\n"); !strings.Contains(header, "eval_loss") || strings.Contains(header, "test") {
			t.Errorf("%v: history.csv header %q", c.args, header)
		}
		var metrics map[string]any
		js, _ := os.ReadFile(filepath.Join(out, "metrics.json"))
		if err := json.Unmarshal(js, &metrics); err != nil {
			t.Fatal(err)
		}
		if _, ok := metrics["test_loss"]; metrics["eval_set"] != c.name || ok != c.wantTestKV {
			t.Errorf("%v: metrics.json eval_set %v, test_loss present %v", c.args, metrics["eval_set"], ok)
		}
	}
}
