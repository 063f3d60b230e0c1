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
	// This test binary compiles in neither cuda nor opencl: both are
	// named, with their tags, before the broken driver.
	want := []string{
		"cuda: not compiled in (build with -tags cuda)",
		"opencl: not compiled in (build with -tags opencl)",
		"broken-test-gpu: no device found",
	}
	if len(skips) != len(want) {
		t.Fatalf("skips = %v, want %q", skips, want)
	}
	for i, s := range skips {
		if s.String() != want[i] {
			t.Errorf("skip %d = %q, want %q", i, s, want[i])
		}
		if notIn := i < 2; errors.Is(s.Err, backend.ErrNotCompiledIn) != notIn {
			t.Errorf("skip %q: errors.Is(ErrNotCompiledIn) = %v, want %v", s, !notIn, notIn)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	cases := []struct{ name, want string }{
		{"nonesuch", "compiled in: broken-test-gpu, cpu"},
		{"broken-test-gpu", "no device found"},
		{"cuda", `backend "cuda": not compiled in (build with -tags cuda; compiled in: broken-test-gpu, cpu)`},
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
