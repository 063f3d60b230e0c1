//go:build cuda

package train

import (
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cuda"
)

// Captured steps as CUDA graphs: the same losses and weights as eager
// steps, bit for bit, with Adam, a per-step schedule, clipping and
// Dropout; and with the emulated graphs, to tell a fault of the driver's
// graphs from one of the recording.
func TestCUDACapturedStepsMatchEager(t *testing.T) {
	t.Run("graphs", func(t *testing.T) {
		checkCapturedMatchesEager(t, func() (backend.Backend, error) { return cuda.Open() })
	})
	t.Run("emulated", func(t *testing.T) {
		t.Setenv("DIYNN_GPU_GRAPH", "emulate")
		checkCapturedMatchesEager(t, func() (backend.Backend, error) { return cuda.Open() })
	})
}
