//go:build !linux

package cpu

import (
	"fmt"
	"runtime"

	"github.com/diynn/diynn/backend"
)

func hostMemory() (backend.Memory, error) {
	return backend.Memory{}, fmt.Errorf("cpu: the host's memory is not known on %s", runtime.GOOS)
}
