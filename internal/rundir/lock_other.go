//go:build !unix

package rundir

import (
	"errors"
	"os"
)

var errLocked = errors.New("locked")

// lockFile: without flock, a lock file that already has content counts as
// held. A crash then leaves a lock that must be removed by hand, which the
// error message says.
func lockFile(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() > 0 {
		return errLocked
	}
	return nil
}
