package cpu

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/diynn/diynn/backend"
)

func hostMemory() (backend.Memory, error) { return readHostMemory("/proc", "/sys/fs/cgroup") }

// readHostMemory reads proc/meminfo, then the memory cgroups that
// proc/self/cgroup names under the cgroup mount sys.
func readHostMemory(proc, sys string) (backend.Memory, error) {
	path := filepath.Join(proc, "meminfo")
	b, err := os.ReadFile(path)
	if err != nil {
		return backend.Memory{}, fmt.Errorf("cpu: host memory: %w", err)
	}
	info := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() { // "MemTotal:       24684084 kB"
		key, val, ok := strings.Cut(sc.Text(), ":")
		f := strings.Fields(val)
		if !ok || len(f) != 2 || f[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n >= 0 && n < 1<<53 {
			info[key] = n << 10
		}
	}
	m := backend.Memory{Total: info["MemTotal"], Available: info["MemAvailable"], Host: true}
	if m.Total <= 0 {
		return backend.Memory{}, fmt.Errorf("cpu: host memory: no MemTotal in %s", path)
	}
	limit, headroom := cgroupMemory(proc, sys)
	if limit > 0 && limit < m.Total {
		m.Total = limit
	}
	if limit > 0 && (m.Available == 0 || headroom < m.Available) {
		// 0 means unknown: a full cgroup has 1 byte left, which no model fits.
		m.Available = max(headroom, 1)
	}
	return m, nil
}

// cgroupMemory returns the lowest memory limit of the process's cgroups and
// of their ancestors, and the least headroom under those limits (the limit
// less the memory in use, not counting inactive page cache, which the
// kernel reclaims first, and at most the limit); 0, 0 when no limit is set.
func cgroupMemory(proc, sys string) (limit, headroom int64) {
	b, err := os.ReadFile(filepath.Join(proc, "self", "cgroup"))
	if err != nil {
		return 0, 0
	}
	limited := false
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3) // "4:memory:/path" (v1), "0::/path" (v2)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			continue
		}
		var root, maxFile, curFile, inactiveKey string
		switch {
		case parts[0] == "0" && parts[1] == "":
			root, maxFile, curFile, inactiveKey = sys, "memory.max", "memory.current", "inactive_file"
		case strings.Contains(","+parts[1]+",", ",memory,"):
			root, maxFile, curFile, inactiveKey = filepath.Join(sys, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
		default:
			continue
		}
		dir := filepath.Join(root, parts[2])
		if _, err := os.Stat(dir); err != nil {
			dir = root // in a cgroup namespace the path may name a host directory
		}
		for {
			if l := readCount(filepath.Join(dir, maxFile)); l > 0 && l < 1<<62 { // v1 writes "unlimited" as about 2⁶³
				if limit == 0 || l < limit {
					limit = l
				}
				used := readCount(filepath.Join(dir, curFile)) - statValue(filepath.Join(dir, "memory.stat"), inactiveKey)
				if h := l - max(used, 0); !limited || h < headroom {
					headroom = h
				}
				limited = true
			}
			if dir == root || len(dir) <= len(root) {
				break
			}
			dir = filepath.Dir(dir)
		}
	}
	return limit, headroom
}

// readCount reads a file holding one number; "max" and errors give 0.
func readCount(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// statValue reads the value of key from a memory.stat file of "key value" lines.
func statValue(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
				return n
			}
		}
	}
	return 0
}
