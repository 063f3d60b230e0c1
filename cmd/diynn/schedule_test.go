package main

import (
	"fmt"
	"math"
	"testing"

	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/nn"
)

// Schedules became factors of the optimizer's rate; the rates that every
// preset (and its report settings) trains with are the float32 values the
// old absolute schedules gave: cosine from lr to lr/100, exp:G, step:E:G,
// written out here as they were.
func TestSchedulesKeepTheirRates(t *testing.T) {
	check := func(name string, set model.Settings) {
		s, err := parseSchedule(set.Schedule, set.Epochs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var g, every float64
		for e := range set.Epochs + 2 {
			var old float64
			switch {
			case set.Schedule == "const":
				old = set.LR
			case set.Schedule == "cosine":
				lo := set.LR / 100
				old = lo
				if e < set.Epochs {
					old = lo + (set.LR-lo)*(1+math.Cos(math.Pi*float64(e)/float64(set.Epochs)))/2
				}
			case scan(set.Schedule, "exp:%g", &g):
				old = set.LR * math.Pow(g, float64(e))
			case scan(set.Schedule, "step:%g:%g", &every, &g):
				old = set.LR * math.Pow(g, float64(e/int(every)))
			default:
				t.Fatalf("%s: schedule %q not covered", name, set.Schedule)
			}
			got := set.LR * s.Factor(nn.At{Epoch: e})
			if float32(got) != float32(old) {
				t.Errorf("%s (%s) epoch %d: rate %v, was %v", name, set.Schedule, e, float32(got), float32(old))
			}
		}
	}
	for name, p := range model.Presets {
		check(name, model.Settings{Epochs: p.Epochs, Optim: p.Optim, LR: p.LR, Schedule: p.Schedule})
		if p.Report != nil {
			check(name+" -report", *p.Report)
		}
	}
	check("cosine over 7", model.Settings{Epochs: 7, LR: 0.3, Schedule: "cosine"})
	check("step:3:0.1", model.Settings{Epochs: 10, LR: 0.05, Schedule: "step:3:0.1"})
}

func scan(s, format string, args ...any) bool {
	n, err := fmt.Sscanf(s, format, args...)
	return err == nil && n == len(args)
}
