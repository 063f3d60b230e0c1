package model

import (
	"fmt"
	"math"

	"github.com/diynn/diynn/safetensors"
)

// CheckFinite returns an error naming the first tensor value that is NaN
// or infinite: such a model came out of a diverged run and its outputs
// mean nothing.
func CheckFinite(ts []safetensors.Tensor) error {
	for _, t := range ts {
		for i, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("tensor %s[%d] is %v", t.Name, i, v)
			}
		}
	}
	return nil
}
