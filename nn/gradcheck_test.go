package nn_test

import (
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/nn/nntest"
)

func TestGradientsCPU(t *testing.T) {
	b := cpu.New()
	t.Run("Modules", func(t *testing.T) { nntest.CheckModules(t, b) })
	t.Run("Losses", func(t *testing.T) { nntest.CheckLosses(t, b) })
}

func TestGoldenPyTorchCPU(t *testing.T) { nntest.CheckGolden(t, cpu.New()) }
