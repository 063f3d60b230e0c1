package backend_test

import (
	"errors"
	"testing"

	"github.com/diynn/diynn/backend"
)

// reporter is a backend that reports m, or err.
type reporter struct {
	backend.Backend // nil: only DeviceMemory is called
	m               backend.Memory
	err             error
}

func (r reporter) DeviceMemory() (backend.Memory, error) { return r.m, r.err }

type silent struct{ backend.Backend }

func TestDefaultMemoryLimit(t *testing.T) {
	const gib = 1 << 30
	cases := []struct {
		name string
		b    backend.Backend
		want int64
	}{
		{"no reporter", silent{}, backend.FallbackMemoryLimit},
		{"report fails", reporter{err: errors.New("no driver")}, backend.FallbackMemoryLimit},
		{"nothing known", reporter{m: backend.Memory{Host: true}}, backend.FallbackMemoryLimit},
		{"host, available", reporter{m: backend.Memory{Total: 64 * gib, Available: 40 * gib, Host: true}}, 20 * gib},
		{"host, total only", reporter{m: backend.Memory{Total: 64 * gib, Host: true}}, 32 * gib},
		{"gpu, total only", reporter{m: backend.Memory{Total: 80 * gib}}, 64 * gib},
		{"gpu, mostly free", reporter{m: backend.Memory{Total: 80 * gib, Available: 79 * gib}}, 64 * gib},
		{"gpu, shared", reporter{m: backend.Memory{Total: 80 * gib, Available: 20 * gib}}, 18 * gib},
		{"gpu, free only", reporter{m: backend.Memory{Available: 10 * gib}}, 9 * gib},
	}
	for _, c := range cases {
		if got := backend.DefaultMemoryLimit(c.b); got != c.want {
			t.Errorf("%s: DefaultMemoryLimit = %d, want %d", c.name, got, c.want)
		}
	}
}
