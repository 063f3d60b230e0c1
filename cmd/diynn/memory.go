package main

import (
	"fmt"
	"github.com/diynn/diynn/tensor"
	"math/rand/v2"

	"github.com/diynn/diynn/backend"
	"github.com/diynn/diynn/data"
	"github.com/diynn/diynn/internal/bytesize"
	"github.com/diynn/diynn/model"
	"github.com/diynn/diynn/safetensors"
)

// parseMaxMemory reads -max-memory: "auto" (0 here: sized to the device
// once it is open) or a positive size such as 4GB or 512MiB.
func parseMaxMemory(s string) (int64, error) {
	if s == "auto" {
		return 0, nil
	}
	n, err := bytesize.Parse(s)
	if err != nil {
		return 0, usagef("-max-memory: %v (want auto, or a size such as 4GB or 512MiB)", err)
	}
	if n <= 0 {
		return 0, usagef("-max-memory %q: want a positive size, or auto", s)
	}
	return n, nil
}

// memoryBudget is the -max-memory limit in bytes: the flag's value, or
// the backend's default budget for "auto" (0).
func memoryBudget(limit int64, b backend.Backend) int64 {
	budget, _ := memoryBudgetSource(limit, b)
	return budget
}

// memoryBudgetSource is memoryBudget with where the limit came from, for
// messages.
func memoryBudgetSource(limit int64, b backend.Backend) (int64, string) {
	if limit == 0 {
		return backend.DefaultMemoryLimit(b), "the default -max-memory for this device"
	}
	return limit, "-max-memory"
}

// checkMemory refuses, before anything is allocated for it, a training run
// whose model (weights, gradients, optimizer state, activations at the
// batch size and at the evaluation batch) and data need more than limit
// bytes; limit 0 is the backend's default budget.
//
// Batch 0 checks the weights alone (and the activations of one sample):
// a first check that needs no data, so that a model too large for the
// device is refused before the dataset is read.
func checkMemory(spec string, in tensor.Shape, batch int, optim string, b backend.Backend, limit int64, sets ...*data.Dataset) error {
	plan, err := planFor(spec, in)
	if err != nil {
		return usageError{err.Error()}
	}
	slots, err := model.OptimizerSlots(optim)
	if err != nil {
		return usageError{err.Error()}
	}
	usage := model.Usage{Batch: batch, Train: true, OptimizerSlots: slots, EvalBatch: 1000}
	if batch == 0 {
		usage.Batch, usage.EvalBatch = 1, 0
	}
	fp, err := plan.Estimate(usage)
	if err != nil {
		return usagef("-model: %v", err)
	}
	limit, source := memoryBudgetSource(limit, b)
	var dataBytes int64
	for _, d := range sets {
		if d != nil {
			dataBytes += 4 * int64(len(d.X)+len(d.Y))
		}
	}
	total := fp.Total() + dataBytes
	if batch == 0 {
		total = fp.Weights + fp.Gradients + fp.Optimizer
	}
	if total <= limit {
		return nil
	}
	if batch == 0 {
		return usagef("-model %q needs %s for its weights, gradients and optimizer state alone, more than the %s allowed (%s): "+
			"use a smaller model, or raise -max-memory", spec, bytesize.Format(fp.Weights+fp.Gradients+fp.Optimizer), bytesize.Format(limit), source)
	}
	return usagef("-model %q needs %v, and its data %s: %s in all, more than the %s allowed (%s): "+
		"use a smaller model or -batch, or raise -max-memory", spec, fp, bytesize.Format(dataBytes), bytesize.Format(total),
		bytesize.Format(limit), source)
}

// planFor plans spec: from the input shape the spec implies when it
// implies one (linear layers read any sample of their width), else from in,
// the data's sample shape (convolutions need it).
func planFor(spec string, in tensor.Shape) (*model.Plan, error) {
	p, err := model.NewPlan(spec)
	if err == nil || in == nil {
		return p, err
	}
	return model.NewPlanFor(spec, in)
}

// impliesInput reports whether spec plans without data: whether the memory
// its weights need can be checked before the data is read.
func impliesInput(spec string) bool {
	_, err := model.NewPlan(spec)
	return err == nil
}

// loadModel reads the model file that flagName names and rebuilds it on b,
// refusing with a usage error, before anything is allocated for the model,
// a file that is not a diynn model, whose tensors do not match its spec,
// whose weights are not finite, or whose weights and activations (batch
// rows at a time) with the file itself need more than limit bytes (0: the
// backend's default budget). The file is bounded by the same limit before
// it is read.
func loadModel(b backend.Backend, flagName, path string, limit int64, batch int) (*model.Model, *safetensors.File, error) {
	limit, source := memoryBudgetSource(limit, b)
	f, err := safetensors.ReadFileLimit(path, min(limit, safetensors.MaxFileBytes))
	if err != nil {
		return nil, nil, usagef("%s: %v", flagName, err)
	}
	plan, err := model.PlanFile(f)
	if err != nil {
		return nil, nil, usagef("%s %s: %v", flagName, path, err)
	}
	if err := model.CheckFinite(f.Tensors); err != nil {
		return nil, nil, usagef("%s %s: %v: the model diverged in training and cannot be used", flagName, path, err)
	}
	fp, err := plan.Estimate(model.Usage{Batch: batch})
	if err != nil {
		return nil, nil, usagef("%s %s: %v", flagName, path, err)
	}
	var fileBytes int64
	for _, t := range f.Tensors {
		fileBytes += 4 * int64(len(t.Data))
	}
	if total := fp.Total() + fileBytes; total > limit {
		return nil, nil, usagef("%s %s needs %v, and the file read %s: %s in all, more than the %s allowed (%s)",
			flagName, path, fp, bytesize.Format(fileBytes), bytesize.Format(total), bytesize.Format(limit), source)
	}
	m, err := plan.Build(b, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", flagName, path, err)
	}
	if err := m.SetParams(f); err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", flagName, path, err)
	}
	return m, f, nil
}
