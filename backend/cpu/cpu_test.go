package cpu_test

import (
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/backendtest"
	"github.com/diynn/diynn/backend/cpu"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func() (backend.Backend, error) { return cpu.New(), nil })
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
