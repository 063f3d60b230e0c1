//go:build opencl

package opencl_test

import (
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/opencl"
	"github.com/diynn/diynn/nn/nntest"
)

// TestBackend runs the conformance suite, the gradient checks and the
// golden test on the OpenCL device (PoCL in CI, which installs
// pocl-opencl-icd).
func TestBackend(t *testing.T) {
	nntest.CheckBackend(t, func() (backend.Backend, error) { return opencl.Open(false) })
}
