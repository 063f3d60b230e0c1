package kernels

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The kernel list that backends load must match the source, and the
// committed PTX must define every kernel (ci/test.sh also regenerates the
// PTX and compares it byte for byte where nvcc is installed).
func TestNamesMatchSourceAndPTX(t *testing.T) {
	var inSource []string
	for _, m := range regexp.MustCompile(`(?m)^KERNEL void (\w+)\(`).FindAllStringSubmatch(source, -1) {
		inSource = append(inSource, m[1])
	}
	names := slices.Clone(Names)
	slices.Sort(names)
	slices.Sort(inSource)
	if !slices.Equal(names, inSource) {
		t.Errorf("Names %v, source defines %v", names, inSource)
	}
	for _, n := range Names {
		if !strings.Contains(PTX(), ".entry "+n+"(") {
			t.Errorf("nn.ptx has no kernel %s: run go generate ./kernels", n)
		}
	}
	for _, p := range []string{OpenCL()} {
		if !strings.Contains(p, "#define KERNEL") {
			t.Error("the OpenCL program lacks its prelude")
		}
	}
}
