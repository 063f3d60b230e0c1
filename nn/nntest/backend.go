package nntest

import (
	"testing"

	"github.com/diynn/diynn/backend/backendtest"
)

// CheckBackend runs everything a backend must pass: the conformance suite,
// the gradient checks of every module and loss, and the PyTorch golden
// test, and the steady-state allocation check. A backend's test is then
// one line.
func CheckBackend(t *testing.T, open backendtest.Opener) {
	t.Run("Conformance", func(t *testing.T) { backendtest.Run(t, open) })
	b, err := open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer b.Close()
	t.Logf("device: %s", b.Device())
	t.Run("Modules", func(t *testing.T) { CheckModules(t, b) })
	t.Run("Losses", func(t *testing.T) { CheckLosses(t, b) })
	t.Run("Golden", func(t *testing.T) { CheckGolden(t, b) })
	t.Run("SteadyState", func(t *testing.T) { CheckSteadyState(t, b) })
}
