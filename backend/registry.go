package backend

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Driver is a compiled-in backend as the registry knows it.
type Driver struct {
	// Name is what Open accepts ("cpu", "opencl", "cuda").
	Name string
	// Rank orders drivers for Open("auto"): the highest that opens wins.
	// cpu has rank 10; a GPU driver ranks above it.
	Rank int
	// Open opens the driver's preferred device, or says why it cannot.
	Open func() (Backend, error)
	// OpenAuto, if set, replaces Open for Open("auto"): a driver may decline
	// devices that another driver serves better (opencl declines CPUs).
	OpenAuto func() (Backend, error)
	// Devices, if set, lists the devices the driver can use, for display.
	Devices func() ([]string, error)
}

// The registry is the package's one piece of mutable global state: concrete
// backends add themselves from init functions guarded by their build tags.
var (
	registryMu sync.Mutex
	registry   = map[string]Driver{}
)

// Register makes a driver available to Open. It panics if the name is taken
// or the driver is incomplete, since both are programming errors.
func Register(d Driver) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if d.Name == "" || d.Name == "auto" || d.Open == nil {
		panic(fmt.Sprintf("backend: invalid driver %q", d.Name))
	}
	if _, dup := registry[d.Name]; dup {
		panic("backend: driver registered twice: " + d.Name)
	}
	registry[d.Name] = d
}

// Drivers lists the compiled-in drivers, best rank first.
func Drivers() []Driver {
	registryMu.Lock()
	defer registryMu.Unlock()
	ds := make([]Driver, 0, len(registry))
	for _, d := range registry {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool {
		if ds[i].Rank != ds[j].Rank {
			return ds[i].Rank > ds[j].Rank
		}
		return ds[i].Name < ds[j].Name
	})
	return ds
}

// Optional lists the drivers that a build may leave out, in the order of
// their ranks (best first), with the build tag that compiles each in. Open
// and OpenAuto name the tag when one is missing.
var Optional = []struct{ Name, Tag string }{
	{"cuda", "cuda"},
	{"opencl", "opencl"},
}

// ErrNotCompiledIn is the cause of a Skip for an Optional driver this build
// left out: errors.Is(skip.Err, ErrNotCompiledIn).
var ErrNotCompiledIn = errors.New("not compiled in")

// Skip records why Open("auto") passed over a driver.
type Skip struct {
	Name string
	Err  error
}

func (s Skip) String() string { return s.Name + ": " + s.Err.Error() }

// Open opens a backend by name, or the best one that works for "auto".
// An unknown name gets an error that lists the compiled-in drivers.
func Open(name string) (Backend, error) {
	b, _, err := OpenAuto(name)
	return b, err
}

// OpenAuto is Open that also reports, for "auto", each better-ranked driver
// it skipped and why, so that programs can print a one-line reason: a
// driver that failed to open, and each Optional driver that this build does
// not include ("cuda: not compiled in (build with -tags cuda)").
func OpenAuto(name string) (Backend, []Skip, error) {
	ds := Drivers()
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Name
	}
	if name != "auto" {
		for _, d := range ds {
			if d.Name == name {
				b, err := d.Open()
				if err != nil {
					return nil, nil, fmt.Errorf("backend %q: %w", name, err)
				}
				return b, nil, nil
			}
		}
		for _, o := range Optional {
			if o.Name == name {
				return nil, nil, fmt.Errorf("backend %q: %w (build with -tags %s; compiled in: %s)",
					name, ErrNotCompiledIn, o.Tag, strings.Join(names, ", "))
			}
		}
		return nil, nil, fmt.Errorf("backend %q: %w (compiled in: %s; opencl and cuda need the build tags of the same name)",
			name, ErrNotCompiledIn, strings.Join(names, ", "))
	}
	// Optional drivers left out of this build come first among the skips:
	// they would have ranked above cpu, and "auto" silently meaning cpu is
	// what a user must be told.
	var skips []Skip
	for _, o := range Optional {
		if !slices.Contains(names, o.Name) {
			skips = append(skips, Skip{o.Name, fmt.Errorf("%w (build with -tags %s)", ErrNotCompiledIn, o.Tag)})
		}
	}
	for _, d := range ds {
		open := d.Open
		if d.OpenAuto != nil {
			open = d.OpenAuto
		}
		b, err := open()
		if err == nil {
			return b, skips, nil
		}
		skips = append(skips, Skip{d.Name, err})
	}
	msgs := make([]string, len(skips))
	for i, s := range skips {
		msgs[i] = s.String()
	}
	return nil, skips, errors.New("backend auto: no backend could be opened: " + strings.Join(msgs, "; "))
}
