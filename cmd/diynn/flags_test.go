package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// bad returns the values a careless or hostile user types for a number
// (NaN, infinities, negative, empty, the wrong type, past int64), and more.
func bad(more ...string) []string {
	return append([]string{"NaN", "Inf", "-Inf", "-5", "", "abc", "1e", "0x", "99999999999999999999999"}, more...)
}

// flagCase is one flag and the values it must refuse.
type flagCase struct {
	flag   string
	values []string
}

// cliFixtures trains the small models that eval and embed need.
func cliFixtures(t *testing.T) (classifier, autoencoder string) {
	t.Helper()
	dir := t.TempDir()
	mustTrain(t, "-data", "dots", "-model", "linear(2,4)", "-epochs", "1", "-out", filepath.Join(dir, "clf"))
	mustTrain(t, append(tinyAE(tinyImages(t)), "-epochs", "1", "-out", filepath.Join(dir, "ae"))...)
	return filepath.Join(dir, "clf", "model.safetensors"), filepath.Join(dir, "ae", "model.safetensors")
}

// TestEveryFlagRefusesBadValues runs every subcommand with each of its
// flags set to values it must refuse — NaN, infinities, negative, zero
// where zero means nothing, huge, empty, the wrong type — and requires
// exit status 2, a message on stderr, no panic and nothing written.
func TestEveryFlagRefusesBadValues(t *testing.T) {
	clf, ae := cliFixtures(t)
	dir := t.TempDir()
	notModel := filepath.Join(dir, "not-a-model.safetensors")
	os.WriteFile(notModel, []byte("hello"), 0o644)
	commands := []struct {
		cmd   string
		base  func(out string) []string
		flags []flagCase
	}{
		{"train", func(out string) []string {
			return []string{"-data", "dots", "-model", "linear(2,4)", "-epochs", "1", "-no-download", "-out", out}
		}, []flagCase{
			{"-epochs", bad("0", "1.5")},
			{"-batch", bad("0", "1.5")},
			{"-lr", slices.DeleteFunc(bad("0"), func(v string) bool { return v == "99999999999999999999999" })}, // a huge rate diverges (exit 1)
			{"-val", bad("1", "1.5", "1e308")},
			{"-seed", bad("1.5", "1e308")},
			{"-limit", bad("1.5", "1e308")},
			{"-encoder", bad("1", "0")}, // a classifier has no encoder
			{"-schedule", []string{"", "abc", "exp:NaN", "exp:-1", "exp:Inf", "exp:0", "step:0:0.5", "step:1.5:0.5", "step:1:NaN", "exp", "cosine:1"}},
			{"-optim", []string{"", "abc", "NaN"}},
			{"-task", []string{"abc", "NaN"}},
			{"-data", []string{"", "abc", "../etc"}},
			{"-model", []string{"", "abc", "linear(NaN,4)", "linear(2,NaN)", "linear(-5,4)", "linear(0,4)", "linear(2,1e308)", "linear(2,4", "linear(2,4) tied(7)", "linear(2,99999999999)"}},
			{"-backend", []string{"", "abc"}},
			{"-max-memory", bad("0", "1XB", "-1GB")},
			{"-features", []string{"recon", "abc"}}, // without -preprocess
			{"-preprocess", []string{dir, notModel, filepath.Join(dir, "missing.safetensors"), "/dev/zero", clf}},
			{"-data-dir", []string{dir, ""}}, // dots needs no files
			{"-out", []string{"", " ", notModel}},
			{"-test-only", []string{"true", "abc"}},
			{"-quiet", []string{"abc", "2"}},
			{"-bogus", []string{"1"}},
		}},
		{"eval", func(string) []string { return []string{"-model", clf, "-no-download"} }, []flagCase{
			{"-model", []string{"", dir, notModel, filepath.Join(dir, "missing"), "/dev/zero", ae}},
			{"-split", []string{"", "abc", "NaN", "validation"}},
			{"-data", []string{"abc", "iris"}}, // iris: 4 features, the model takes 2
			{"-backend", []string{"", "abc"}},
			{"-bogus", []string{"1"}},
		}},
		{"embed", func(out string) []string { return []string{"-model", ae, "-out", out, "-no-download"} }, []flagCase{
			{"-model", []string{"", dir, notModel, "/dev/zero", clf}},
			{"-limit", bad("1.5", "1e308")},
			{"-split", []string{"", "abc"}},
			{"-out", []string{filepath.Join(dir, "missing", "lat"), dir, filepath.Join(dir, "lat") + "/", ""}},
			{"-bogus", []string{"1"}},
		}},
		{"reproduce", func(out string) []string { return []string{"-out", out} }, []flagCase{
			{"-out", []string{notModel}},
			{"-quick", []string{"abc"}},
			{"-backend", []string{"abc"}},
			{"-bogus", []string{"1"}},
		}},
	}
	for _, c := range commands {
		for _, fc := range c.flags {
			for _, v := range fc.values {
				name := c.cmd + " " + fc.flag + "=" + v
				t.Run(name, func(t *testing.T) {
					out := filepath.Join(t.TempDir(), "out")
					args := append(append([]string{c.cmd}, c.base(out)...), fc.flag+"="+v)
					code, stdout, stderr := runCLI(args...)
					if code != 2 || !strings.Contains(stderr, "diynn: ") {
						t.Errorf("diynn %v: exit %d, stderr %q (stdout %q); want exit 2 and a message", args, code, lastLines(stderr, 3), lastLines(stdout, 3))
					}
					if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "{") && strings.Contains(stderr, "0x") {
						t.Errorf("diynn %v printed a dump: %s", args, stderr)
					}
					if _, err := os.Stat(out); err == nil && c.cmd != "reproduce" {
						entries, _ := os.ReadDir(out)
						t.Errorf("diynn %v wrote %s: %v", args, out, entries)
					}
				})
			}
		}
	}
	if code, _, stderr := runCLI("backends", "extra"); code != 2 || !strings.Contains(stderr, "no arguments") {
		t.Errorf("backends extra: exit %d, %q", code, stderr)
	}
}
