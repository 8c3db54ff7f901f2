package cgroups

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Stats come from a cgroup of the unified hierarchy (the pod's systemd
// gives each app its own unit, hence its own cgroup). cpu.stat is always
// there; memory figures need the memory controller, which a hybrid host
// keeps on its v1 hierarchy: they then come from the container's own v1
// directory (V1MemoryStats), or are left out and only their timestamp says
// when the sample was taken.

// cpuSample is the last CPU reading of a cgroup, for the usage rate.
type cpuSample struct {
	at    int64  // unix nanoseconds
	usage uint64 // nanoseconds of CPU time
}

// CPURates turns successive CPU time readings of a key (a container, a
// pod) into a usage rate.
type CPURates struct {
	mu   sync.Mutex
	last map[string]cpuSample
}

// rate returns the CPU use in nanocores since the previous sample of key.
func (c *CPURates) rate(key string, now cpuSample) *runtimeapi.UInt64Value {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]cpuSample{}
	}
	prev, ok := c.last[key]
	c.last[key] = now
	if !ok || now.at <= prev.at || now.usage < prev.usage {
		return nil
	}
	return &runtimeapi.UInt64Value{Value: (now.usage - prev.usage) * uint64(time.Second) / uint64(now.at-prev.at)}
}

// Forget drops a key's last reading (its cgroup is gone).
func (c *CPURates) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.last, key)
}

// ReadKeyed reads a flat-keyed cgroup file (cpu.stat, memory.stat,
// memory.events).
func ReadKeyed(path string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}

// ReadUint reads a cgroup file holding one number ("max" is not one).
func ReadUint(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// Sample reads one unified-hierarchy cgroup directory ("" for a container
// that is not running: timestamps only); key names it for the CPU rate.
func (c *CPURates) Sample(dir, key string) (*runtimeapi.CpuUsage, *runtimeapi.MemoryUsage) {
	now := time.Now().UnixNano()
	cpu := &runtimeapi.CpuUsage{Timestamp: now}
	mem := &runtimeapi.MemoryUsage{Timestamp: now}
	if dir == "" {
		return cpu, mem
	}
	if st, err := ReadKeyed(filepath.Join(dir, "cpu.stat")); err == nil {
		usage := st["usage_usec"] * 1000
		cpu.UsageCoreNanoSeconds = &runtimeapi.UInt64Value{Value: usage}
		cpu.UsageNanoCores = c.rate(key, cpuSample{at: now, usage: usage})
	}
	if current, ok := ReadUint(filepath.Join(dir, "memory.current")); ok {
		mem.UsageBytes = &runtimeapi.UInt64Value{Value: current}
		limit, _ := ReadUint(filepath.Join(dir, "memory.max")) // "max": none
		fillMemory(mem, dir, current, limit, "inactive_file", "anon", "pgfault", "pgmajfault")
	}
	return cpu, mem
}

// V1MemoryStats fills mem from a container's own cgroup v1 memory
// directory (hosts whose memory controller is on v1), as cAdvisor reads it.
func V1MemoryStats(dir string, mem *runtimeapi.MemoryUsage) {
	usage, ok := ReadUint(filepath.Join(dir, "memory.usage_in_bytes"))
	if !ok {
		return
	}
	mem.UsageBytes = &runtimeapi.UInt64Value{Value: usage}
	limit, _ := ReadUint(filepath.Join(dir, "memory.limit_in_bytes"))
	if limit >= 1<<62 {
		limit = 0 // v1's "unlimited"
	}
	fillMemory(mem, dir, usage, limit, "total_inactive_file", "total_rss", "total_pgfault", "total_pgmajfault")
}

// fillMemory completes mem from a memory cgroup's usage, its limit (0:
// none) and its memory.stat, whose keys for the inactive page cache, the
// resident anonymous memory and the page faults differ between v1 and v2.
// The working set is counted as cAdvisor and the kubelet's eviction count
// it: what is in use less the page cache the kernel can take back.
func fillMemory(mem *runtimeapi.MemoryUsage, dir string, usage, limit uint64, inactiveKey, rssKey, faultKey, majorKey string) {
	workingSet := usage
	if st, err := ReadKeyed(filepath.Join(dir, "memory.stat")); err == nil {
		if inactive := st[inactiveKey]; inactive < workingSet {
			workingSet -= inactive
		} else {
			workingSet = 0
		}
		mem.RssBytes = &runtimeapi.UInt64Value{Value: st[rssKey]}
		mem.PageFaults = &runtimeapi.UInt64Value{Value: st[faultKey]}
		mem.MajorPageFaults = &runtimeapi.UInt64Value{Value: st[majorKey]}
	}
	mem.WorkingSetBytes = &runtimeapi.UInt64Value{Value: workingSet}
	if limit > workingSet {
		mem.AvailableBytes = &runtimeapi.UInt64Value{Value: limit - workingSet}
	}
}
