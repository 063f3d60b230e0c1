package main

import (
	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/data"
)

// memoryLimit parses -max-memory: TODO(helper API).
func memoryLimit(flagValue string, b backend.Backend) (int64, error) { return 1 << 40, nil }

// checkMemory refuses a run whose model and data would not fit: TODO.
func checkMemory(spec string, batch int, optim string, b backend.Backend, limit int64, sets ...*data.Dataset) error {
	return nil
}
