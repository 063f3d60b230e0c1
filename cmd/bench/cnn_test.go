package main

import (
	"testing"

	"github.com/diynn/diynn/backend/cpu"
	"github.com/diynn/diynn/tensor"
)

// The benchmark's training step on fmnist-cnn (the preset's network, Adam,
// Dropout reseeded every step, batches gathered on the device) allocates
// neither buffers nor Go memory once an epoch has sized everything, for
// full batches and the short last one alike: the epoch it times is the
// steady state the issue asks for.
func TestCNNEpochStepAllocatesNothing(t *testing.T) {
	const samples, batch = 40, 16 // batches of 16, 16 and 8
	r, err := modelEpochRun(cpu.New(), "fmnist-cnn", tensor.Shape{1, 28, 28}, "adam", 1e-3, samples, batch)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.epoch(); err != nil { // sizes activations, optimizer state and both batch sizes
		t.Fatal(err)
	}
	offs := []int{0, 16, 32}
	i := 0
	step := func() {
		if err := r.trainBatch(offs[i%len(offs)]); err != nil {
			t.Fatal(err)
		}
		i++
	}
	before := r.b.MemStats()
	heap := testing.AllocsPerRun(9, step)
	if err := r.b.Sync(); err != nil {
		t.Fatal(err)
	}
	if after := r.b.MemStats(); after.Allocs != before.Allocs {
		t.Errorf("%d buffer allocations in 10 steady-state steps, want 0", after.Allocs-before.Allocs)
	}
	if heap != 0 {
		t.Errorf("%.1f Go heap allocations per steady-state step, want 0", heap)
	}
	if err := r.epoch(); err != nil { // and the loss is still a number
		t.Fatal(err)
	}
}

func TestParseDims(t *testing.T) {
	if d, err := parseDims("1x28x28"); err != nil || len(d) != 3 || d[0] != 1 || d[1] != 28 || d[2] != 28 {
		t.Errorf("parseDims(1x28x28) = %v, %v", d, err)
	}
	for _, bad := range []string{"", "1x0x28", "1xx28", "a"} {
		if _, err := parseDims(bad); err == nil {
			t.Errorf("parseDims(%q) accepted", bad)
		}
	}
}
