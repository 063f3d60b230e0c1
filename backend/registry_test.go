package backend_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/backend/cpu"
)

func init() {
	// A driver that is compiled in but has no device, as opencl without an
	// ICD: auto must skip it and say why.
	backend.Register(backend.Driver{Name: "broken-test-gpu", Rank: 100, Open: func() (backend.Backend, error) {
		return nil, errors.New("no device found")
	}})
	_ = cpu.New
}

func TestOpenAutoSkipsBrokenDrivers(t *testing.T) {
	b, skips, err := backend.OpenAuto("auto")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "cpu" {
		t.Errorf("auto opened %q, want cpu", b.Name())
	}
	if len(skips) != 1 || skips[0].Name != "broken-test-gpu" || !strings.Contains(skips[0].String(), "no device found") {
		t.Errorf("skips = %v", skips)
	}
}

func TestOpenErrors(t *testing.T) {
	cases := []struct{ name, want string }{
		{"nonesuch", "compiled in: broken-test-gpu, cpu"},
		{"broken-test-gpu", "no device found"},
	}
	for _, c := range cases {
		_, err := backend.Open(c.name)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) error %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestRegisterRejectsDuplicates(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("registering cpu twice did not panic")
		}
	}()
	backend.Register(backend.Driver{Name: "cpu", Open: func() (backend.Backend, error) { return cpu.New(), nil }})
}
