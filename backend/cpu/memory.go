package cpu

import "github.com/diynn/diynn/backend"

// DeviceMemory reports the host's memory, which is the cpu backend's
// (backend.MemoryReporter): on Linux, MemTotal and MemAvailable of
// /proc/meminfo, lowered to the limit and headroom of the process's memory
// cgroup (v1 or v2) where one is set, as in a container; an error on other
// systems.
func (c *Backend) DeviceMemory() (backend.Memory, error) {
	return hostMemory()
}
