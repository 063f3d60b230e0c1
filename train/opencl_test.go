//go:build opencl

package train

import (
	"testing"

	"github.com/diynn/diynn/backend/opencl"
)

func TestOpenCLTrainsLikeCPU(t *testing.T) {
	b, err := opencl.Open(false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	compareWithCPU(t, b)
}
