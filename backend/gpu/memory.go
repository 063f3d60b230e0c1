package gpu

import (
	"fmt"

	"github.com/diynn/diynn/backend"
)

// MemoryInfo is implemented by devices that can report their memory.
type MemoryInfo interface {
	Memory() (backend.Memory, error)
}

// DeviceMemory reports the device's memory (backend.MemoryReporter), or an
// error where the device cannot tell.
func (b *Backend) DeviceMemory() (backend.Memory, error) {
	mi, ok := b.dev.(MemoryInfo)
	if !ok {
		return backend.Memory{}, fmt.Errorf("%s: the device does not report its memory", b.dev.Name())
	}
	if b.closed {
		return backend.Memory{}, backend.ErrClosed
	}
	m, err := mi.Memory()
	if err != nil {
		return backend.Memory{}, fmt.Errorf("%s: device memory: %w", b.dev.Name(), err)
	}
	return m, nil
}
