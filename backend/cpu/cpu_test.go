package cpu_test

import (
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/backendtest"
	"github.com/diynn/diynn/backend/cpu"
)

// The conformance suite runs once per SGEMM compiled in: the default, and
// the others that NewWithGEMM offers.
func TestConformance(t *testing.T) {
	for _, name := range cpu.GEMMs() {
		t.Run(name, func(t *testing.T) {
			backendtest.Run(t, func() (backend.Backend, error) { return cpu.NewWithGEMM(name) })
		})
	}
}

func TestNewWithGEMMUnknown(t *testing.T) {
	_, err := cpu.NewWithGEMM("nonesuch")
	if err == nil || !strings.Contains(err.Error(), `"nonesuch"`) || !strings.Contains(err.Error(), "diynn") {
		t.Fatalf("NewWithGEMM(nonesuch) error = %v, want one naming it and the choices", err)
	}
}

func TestRegistered(t *testing.T) {
	b, err := backend.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "cpu" {
		t.Errorf("Name() = %q", b.Name())
	}
	if _, err := backend.Open("nonesuch"); err == nil {
		t.Error("Open(nonesuch) succeeded")
	} else {
		t.Log(err)
	}
	auto, skips, err := backend.OpenAuto("auto")
	if err != nil || auto == nil {
		t.Fatalf("auto: %v", err)
	}
	t.Logf("auto picked %s (%s), skipped %v", auto.Name(), auto.Device(), skips)
}
