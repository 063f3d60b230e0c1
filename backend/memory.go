package backend

// Memory is what a backend's device has, in bytes.
type Memory struct {
	// Total is the device's memory: a GPU's, or for the cpu backend the
	// host's RAM or the smaller limit of the process's cgroup.
	Total int64
	// Available is what can be allocated now, as the driver (cuMemGetInfo)
	// or the kernel (MemAvailable, the cgroup's headroom) counts it; 0
	// when unknown (OpenCL has no query for it).
	Available int64
	// Host reports memory shared with the Go heap and the rest of the
	// host: the cpu backend's, or an OpenCL CPU device's.
	Host bool
}

// MemoryReporter is implemented by backends that can tell how much memory
// their device has. Find it by type assertion, as HostWrapper.
type MemoryReporter interface {
	DeviceMemory() (Memory, error)
}

// FallbackMemoryLimit is DefaultMemoryLimit's answer for a backend that
// cannot report its memory: 4 GiB, which any machine that trains these
// networks has.
const FallbackMemoryLimit int64 = 4 << 30

// DefaultMemoryLimit is a budget for one model on b, in bytes, for checks
// such as model.Footprint.Check:
//
//   - host memory: half of what is available (of the total if that is
//     unknown). Go's collector lets the heap grow to twice the live data
//     before it collects (GOGC=100), and the dataset, the file a model was
//     read from and the rest of the host share the same memory;
//   - a device's own memory: 90% of what the driver says is free, since its
//     caching allocator rounds and keeps freed buffers, and at most 80% of
//     the total, which leaves room for the context, the kernels and other
//     programs when the free amount is unknown;
//   - FallbackMemoryLimit when b does not implement MemoryReporter or its
//     report fails.
func DefaultMemoryLimit(b Backend) int64 {
	r, ok := b.(MemoryReporter)
	if !ok {
		return FallbackMemoryLimit
	}
	m, err := r.DeviceMemory()
	if err != nil {
		return FallbackMemoryLimit
	}
	return memoryLimit(m)
}

func memoryLimit(m Memory) int64 {
	if m.Total <= 0 && m.Available <= 0 {
		return FallbackMemoryLimit
	}
	if m.Host {
		if m.Available > 0 {
			return m.Available / 2
		}
		return m.Total / 2
	}
	limit := int64(-1)
	if m.Total > 0 {
		limit = m.Total / 5 * 4
	}
	if m.Available > 0 && (limit < 0 || m.Available/10*9 < limit) {
		limit = m.Available / 10 * 9
	}
	return limit
}
