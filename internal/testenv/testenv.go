// Package testenv gives tests the external things they need — the
// datasets, Debian's Python with numpy — and decides what happens when one
// is missing: outside CI the test is skipped; in CI (CI set, as .ci/run
// runs), where ci/test.sh provides them all, it fails.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// missing skips the test, or fails it in CI.
func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing in CI (ci/test.sh provides it)", what)
	}
	t.Skipf("%s is missing", what)
}

// DataDir returns $DIYNN_DATA, the directory of the real datasets.
func DataDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DIYNN_DATA")
	if dir == "" {
		missing(t, "DIYNN_DATA (the datasets)")
	}
	return dir
}

// Python returns Debian's /usr/bin/python3 after checking that it imports
// module.
func Python(t testing.TB, module string) string {
	t.Helper()
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import "+module).Run(); err != nil {
		missing(t, python+" with "+module)
	}
	return python
}
