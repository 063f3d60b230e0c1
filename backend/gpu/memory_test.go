package gpu

import (
	"errors"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
)

// memDevice is a fakeDevice that reports its memory.
type memDevice struct {
	fakeDevice
	m   backend.Memory
	err error
}

func (d *memDevice) Memory() (backend.Memory, error) { return d.m, d.err }

func TestDeviceMemory(t *testing.T) {
	const gib = 1 << 30
	cases := []struct {
		name      string
		dev       Device
		want      backend.Memory
		wantErr   string
		wantLimit int64
	}{
		{"reports", &memDevice{m: backend.Memory{Total: 140 * gib, Available: 100 * gib}}, backend.Memory{Total: 140 * gib, Available: 100 * gib}, "", 90 * gib},
		{"fails", &memDevice{err: errors.New("driver says no")}, backend.Memory{}, "fake: device memory: driver says no", backend.FallbackMemoryLimit},
		{"cannot", &fakeDevice{}, backend.Memory{}, "fake: the device does not report its memory", backend.FallbackMemoryLimit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := New(c.dev)
			if err != nil {
				t.Fatal(err)
			}
			var r backend.MemoryReporter = b
			m, err := r.DeviceMemory()
			if c.wantErr == "" && (err != nil || m != c.want) || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Errorf("DeviceMemory() = %+v, %v; want %+v, %q", m, err, c.want, c.wantErr)
			}
			if got := backend.DefaultMemoryLimit(b); got != c.wantLimit {
				t.Errorf("DefaultMemoryLimit = %d, want %d", got, c.wantLimit)
			}
			b.Close()
			if _, err := b.DeviceMemory(); err == nil {
				t.Error("DeviceMemory after Close succeeded")
			}
		})
	}
}
