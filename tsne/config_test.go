package tsne

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// Every unusable parameter gives a *ConfigError that wraps ErrConfig and
// names the field and the value, not a dump of the whole Config.
func TestConfigErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		cfg          Config
		field, value string
	}{
		{Config{Dims: 4}, "Dims", "4"},
		{Config{Dims: -2}, "Dims", "-2"},
		{Config{Perplexity: -5}, "Perplexity", "-5"},
		{Config{Perplexity: 0.5}, "Perplexity", "0.5"},
		{Config{Perplexity: nan}, "Perplexity", "NaN"},
		{Config{Perplexity: inf}, "Perplexity", "+Inf"},
		{Config{Perplexity: 7}, "Perplexity", "7"}, // too large for 20 points
		{Config{Iters: -5}, "Iters", "-5"},
		{Config{Theta: -0.5}, "Theta", "-0.5"},
		{Config{Theta: -2}, "Theta", "-2"},
		{Config{Theta: 1.5}, "Theta", "1.5"},
		{Config{Theta: nan}, "Theta", "NaN"},
		{Config{Theta: -inf}, "Theta", "-Inf"},
		{Config{EarlyExaggeration: 0.5}, "EarlyExaggeration", "0.5"},
		{Config{EarlyExaggeration: -12}, "EarlyExaggeration", "-12"},
		{Config{EarlyExaggeration: nan}, "EarlyExaggeration", "NaN"},
		{Config{EarlyExaggeration: 1e308}, "EarlyExaggeration", "1e+308"},
		{Config{ExaggerationIters: -1}, "ExaggerationIters", "-1"},
		{Config{Iters: 100, ExaggerationIters: 101}, "ExaggerationIters", "101"},
		{Config{ExaggerationIters: 1001}, "ExaggerationIters", "1001"}, // default Iters is 1000
		{Config{LearningRate: -5}, "LearningRate", "-5"},
		{Config{LearningRate: -0.5}, "LearningRate", "-0.5"},
		{Config{Method: "barnes-hut"}, "Method", `"barnes-hut"`},
		{Config{Method: MethodFFT, Dims: 3}, "Method", `"fft"`},
		{Config{Method: MethodBH, Theta: Exact}, "Method", `"bh"`},
		{Config{Method: MethodFFT, Theta: Exact}, "Method", `"fft"`},
		{Config{LearningRate: nan}, "LearningRate", "NaN"},
		{Config{LearningRate: inf}, "LearningRate", "+Inf"},
		{Config{LearningRate: 1e308}, "LearningRate", "1e+308"},
	}
	const n, d = 20, 3
	x, _ := clusters(n, d, 2, 1)
	for _, c := range cases {
		_, err := Run(x, n, d, c.cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: error %v, want a *ConfigError", c.cfg, err)
			continue
		}
		if ce.Field != c.field || ce.Value != c.value {
			t.Errorf("%+v: error names %s %s, want %s %s", c.cfg, ce.Field, ce.Value, c.field, c.value)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "tsne: "+c.field+" "+c.value+": ") || strings.Contains(msg, "{") {
			t.Errorf("%+v: message %q", c.cfg, msg)
		}
	}
}

// The documented values at the edges of each range are accepted, the
// exact-mode sentinel included, and errors that are not about the Config
// do not claim to be.
func TestConfigAccepts(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Theta: Exact},
		{Theta: 1, Perplexity: 1, EarlyExaggeration: 1, LearningRate: MaxRate},
		{Iters: 10, ExaggerationIters: 10},
		{Iters: 10}, // the default 250 exaggeration iterations shrink to fit
		{Dims: 3, EarlyExaggeration: MaxRate},
		{Dims: 1, Method: MethodFFT, LearningRate: AutoLearningRate},
		{Method: MethodExact},
		{Method: MethodAuto, Theta: Exact},
	} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	c := Config{Iters: 10}
	if err := c.defaults(100); err != nil || c.ExaggerationIters != 10 {
		t.Errorf("Iters 10: ExaggerationIters defaults to %d (%v), want 10", c.ExaggerationIters, err)
	}
	if _, err := Run([]float64{1, 2, 3}, 2, 2, Config{}); err == nil || errors.Is(err, ErrConfig) {
		t.Errorf("mismatched input: %v, want an error that is not ErrConfig", err)
	}
	const n, d = 30, 2
	x, _ := clusters(n, d, 2, 2)
	if _, err := Run(x, n, d, Config{Perplexity: 5, Iters: 20, Theta: Exact}); err != nil {
		t.Errorf("exact mode: %v", err)
	}
}

// A run whose coordinates overflow stops with an error instead of
// returning NaNs. The learning rate is set past MaxRate behind Validate's
// back to force it.
func TestDivergenceIsAnError(t *testing.T) {
	const n, d = 30, 2
	x, _ := clusters(n, d, 2, 3)
	cfg := Config{Perplexity: 5, Iters: 50, Workers: 1}
	if err := cfg.defaults(n); err != nil {
		t.Fatal(err)
	}
	cfg.LearningRate = 1e300
	p := sparseAffinities(normalize(x, n, d), n, d, cfg.Perplexity, 1, 1)
	o := newOptimizer(n, cfg, p, nil)
	err := o.run()
	if err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Fatalf("error %v, want one saying the embedding diverged", err)
	}
}
