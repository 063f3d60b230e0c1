package cpu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diynn/diynn/backend"
)

// The host's memory from fake /proc and /sys/fs/cgroup trees: meminfo
// alone, and lowered by v1 and v2 cgroup limits.
func TestReadHostMemory(t *testing.T) {
	const gib = 1 << 30
	meminfo := "MemTotal:       16777216 kB\nMemFree:         1048576 kB\nMemAvailable:    8388608 kB\nHugePages_Total:       0\n"
	cases := []struct {
		name    string
		files   map[string]string // relative to the fake root: proc/… and sys/…
		want    backend.Memory
		wantErr string
	}{
		{"meminfo only", map[string]string{"proc/meminfo": meminfo},
			backend.Memory{Total: 16 * gib, Available: 8 * gib, Host: true}, ""},
		{"no MemAvailable", map[string]string{"proc/meminfo": "MemTotal: 1048576 kB\n"},
			backend.Memory{Total: gib, Host: true}, ""},
		{"no meminfo", map[string]string{}, backend.Memory{}, "meminfo"},
		{"no MemTotal", map[string]string{"proc/meminfo": "MemTotal: lots\n"}, backend.Memory{}, "no MemTotal"},
		{"v1 unlimited", map[string]string{
			"proc/meminfo":                         meminfo,
			"proc/self/cgroup":                     "5:devices:/\n4:memory:/job\n0::/\n",
			"sys/memory/job/memory.limit_in_bytes": "9223372036854771712\n",
			"sys/memory/job/memory.usage_in_bytes": "5914738688\n",
		}, backend.Memory{Total: 16 * gib, Available: 8 * gib, Host: true}, ""},
		{"v1 limit", map[string]string{
			"proc/meminfo":                         meminfo,
			"proc/self/cgroup":                     "4:memory,hugetlb:/job\n",
			"sys/memory/job/memory.limit_in_bytes": "4294967296\n",
			"sys/memory/job/memory.usage_in_bytes": "3221225472\n",
			"sys/memory/job/memory.stat":           "cache 100\ntotal_inactive_file 536870912\n",
		}, backend.Memory{Total: 4 * gib, Available: 1.5 * gib, Host: true}, ""},
		{"v2 nested, limit on the parent", map[string]string{
			"proc/meminfo":         meminfo,
			"proc/self/cgroup":     "0::/a/b\n",
			"sys/a/b/memory.max":   "max\n",
			"sys/a/memory.max":     "3221225472\n",
			"sys/a/memory.current": "1073741824\n",
		}, backend.Memory{Total: 3 * gib, Available: 2 * gib, Host: true}, ""},
		{"v2, the tighter headroom wins", map[string]string{
			"proc/meminfo":           meminfo,
			"proc/self/cgroup":       "0::/a/b\n",
			"sys/a/b/memory.max":     "6442450944\n",
			"sys/a/b/memory.current": "1073741824\n",
			"sys/a/memory.max":       "8589934592\n",
			"sys/a/memory.current":   "7516192768\n",
		}, backend.Memory{Total: 6 * gib, Available: 1 * gib, Host: true}, ""},
		{"v2 in a namespace: the path is the host's", map[string]string{
			"proc/meminfo":       meminfo,
			"proc/self/cgroup":   "0::/system.slice/docker-1234.scope\n",
			"sys/memory.max":     "2147483648\n",
			"sys/memory.current": "1073741824\n",
		}, backend.Memory{Total: 2 * gib, Available: 1 * gib, Host: true}, ""},
		{"v2 full", map[string]string{
			"proc/meminfo":       meminfo,
			"proc/self/cgroup":   "0::/\n",
			"sys/memory.max":     "2147483648\n",
			"sys/memory.current": "2147483648\n",
		}, backend.Memory{Total: 2 * gib, Available: 1, Host: true}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range c.files {
				path := filepath.Join(root, name)
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readHostMemory(filepath.Join(root, "proc"), filepath.Join(root, "sys"))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Errorf("error %v, want one mentioning %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestDeviceMemoryOfThisHost(t *testing.T) {
	m, err := New().DeviceMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v, default limit %d", m, backend.DefaultMemoryLimit(New()))
	if !m.Host || m.Total <= 0 || m.Available < 0 || m.Available > m.Total {
		t.Errorf("DeviceMemory() = %+v", m)
	}
}
