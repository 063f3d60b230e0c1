// Package kernels holds diynn's device kernels: one source, nn.kern, in the
// common subset of OpenCL C 1.2 and CUDA C, a prelude per dialect that
// defines the few names that differ, and codes.h, the numeric codes shared
// with Go (generated from package backend's constants and this package's
// error codes by `go generate ./kernels`). The OpenCL backend compiles the
// OpenCL prelude, codes.h and the source at run time; the CUDA backend loads
// PTX that nvcc built from the CUDA prelude, codes.h and the same source
// (nn_cuda.cu).
//
// The source is also the reference for launches: Signatures parses every
// kernel's parameter list, and backend/gpu refuses a launch whose name,
// argument count or argument kinds do not match it, before the driver sees
// it.
package kernels

import (
	_ "embed"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

//go:embed nn.kern
var source string

//go:embed prelude_opencl.h
var openCLPrelude string

//go:embed codes.h
var codesHeader string

// OpenCL returns the complete OpenCL C program.
func OpenCL() string { return openCLPrelude + "\n" + codesHeader + "\n" + source }

// Error codes that kernels write into errflag[0] when they find bad input;
// errflag[1] and errflag[2] then hold the offending value and its index.
// backend/gpu turns them into errors; nn.kern names them through codes.h
// (ERR_LABEL, ERR_ROW_INDEX).
const (
	// ErrNone: no kernel found bad input.
	ErrNone = 0
	// ErrLabel: CrossEntropy found a label (errflag[1]) in row errflag[2]
	// that is not a class index.
	ErrLabel = 1
	// ErrRowIndex: GatherRows found an index (errflag[1]) at position
	// errflag[2] that is not a row of its source.
	ErrRowIndex = 2
)

// MaxArgs is the most arguments a kernel may take: the CUDA backend passes
// them through a fixed array of this many 8-byte slots. A CPU test checks
// every kernel against it.
const MaxArgs = 16

// ParamKind is the kind of a kernel parameter, as a launch passes it.
type ParamKind int

// The three kinds of kernel parameters.
const (
	// Int is a `const int` (Go: int or bool, passed as a 32-bit int).
	Int ParamKind = iota
	// Float is a `const float` (Go: float32).
	Float
	// Buffer is a `GLOBAL float*` or `GLOBAL const float*` (a device buffer).
	Buffer
)

func (k ParamKind) String() string {
	switch k {
	case Int:
		return "int"
	case Float:
		return "float"
	case Buffer:
		return "buffer"
	}
	return fmt.Sprintf("ParamKind(%d)", int(k))
}

// Bytes is the size of the parameter in a CUDA launch's parameter block.
func (k ParamKind) Bytes() int {
	if k == Buffer {
		return 8
	}
	return 4
}

// Param is one parameter of a kernel.
type Param struct {
	Name string
	Kind ParamKind
}

var (
	commentRE = regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`)
	kernelRE  = regexp.MustCompile(`(?m)^[ \t]*KERNEL\s+void\s+(\w+)\s*\(([^)]*)\)`)
	paramREs  = []struct {
		re   *regexp.Regexp
		kind ParamKind
	}{
		{regexp.MustCompile(`^const int (\w+)$`), Int},
		{regexp.MustCompile(`^const float (\w+)$`), Float},
		{regexp.MustCompile(`^GLOBAL (?:const )?float ?\* ?(\w+)$`), Buffer},
	}
	signatures = mustParse(source)
)

// stripComments blanks out C comments, keeping their newlines so that the
// lines after them keep their place: a kernel written inside a comment is
// not a kernel, and a comment inside a parameter list is not a parameter.
func stripComments(src string) string {
	return commentRE.ReplaceAllStringFunc(src, func(c string) string {
		return strings.Repeat("\n", strings.Count(c, "\n")) + " "
	})
}

// parse reads the signature of every `KERNEL void name(...)` in src,
// comments removed; a signature may span lines. A parameter that is not
// one of the three forms of ParamKind is an error: launches could not pass
// it. An empty list, or (void), is a kernel without parameters.
func parse(src string) (map[string][]Param, error) {
	sigs := map[string][]Param{}
	for _, m := range kernelRE.FindAllStringSubmatch(stripComments(src), -1) {
		name := m[1]
		if _, dup := sigs[name]; dup {
			return nil, fmt.Errorf("kernel %s defined twice", name)
		}
		params := []Param{}
		if list := strings.TrimSpace(m[2]); list == "" || list == "void" {
			sigs[name] = params
			continue
		}
		for i, p := range strings.Split(m[2], ",") {
			p = strings.Join(strings.Fields(p), " ")
			found := false
			for _, f := range paramREs {
				if pm := f.re.FindStringSubmatch(p); pm != nil {
					params = append(params, Param{pm[1], f.kind})
					found = true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("kernel %s: parameter %d %q is not `const int`, `const float` or `GLOBAL [const] float*`", name, i, p)
			}
		}
		sigs[name] = params
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("no `KERNEL void name(...)` found")
	}
	return sigs, nil
}

func mustParse(src string) map[string][]Param {
	sigs, err := parse(src)
	if err != nil {
		panic("kernels: nn.kern: " + err.Error())
	}
	return sigs
}

// Signatures returns the parameters of every kernel in nn.kern, by name. The
// map is the caller's (a fresh copy on every call).
func Signatures() map[string][]Param {
	m := make(map[string][]Param, len(signatures))
	for k, v := range signatures {
		m[k] = append([]Param(nil), v...)
	}
	return m
}

// Names lists every kernel the source defines, sorted, for backends that
// load them all up front.
func Names() []string {
	names := make([]string, 0, len(signatures))
	for k := range signatures {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
