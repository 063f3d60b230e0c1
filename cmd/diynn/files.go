package main

import (
	"os"
	"path/filepath"
)

// sameFile reports whether paths a and b name the same file: the same
// inode when both exist, else the same cleaned absolute path. Commands use
// it to refuse an output that would overwrite one of their inputs.
func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}
