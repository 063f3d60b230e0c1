//go:build cuda

package train

import (
	"testing"

	"github.com/diynn/diynn/backend/cuda"
)

func TestCUDATrainsLikeCPU(t *testing.T) {
	b, err := cuda.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	compareWithCPU(t, b)
}
