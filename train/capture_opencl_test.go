//go:build opencl

package train

import (
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/opencl"
)

// Captured steps on OpenCL with package gpu's emulated graphs
// (DIYNN_GPU_GRAPH=emulate: launch by launch, after the same recording,
// matching and updating as on CUDA): the same losses and weights as eager
// steps, bit for bit, with Adam, a per-step schedule, clipping and
// Dropout, whose values change every step.
func TestOpenCLCapturedStepsMatchEager(t *testing.T) {
	t.Setenv("DIYNN_GPU_GRAPH", "emulate")
	checkCapturedMatchesEager(t, func() (backend.Backend, error) { return opencl.Open(false) })
}
