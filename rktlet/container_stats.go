package rktlet

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Stats come from the app's cgroup in the unified hierarchy (the pod's
// systemd gives each app its own unit, hence its own cgroup). cpu.stat is
// always there; memory figures need the memory controller, which a hybrid
// (cgroup v1) host keeps on its v1 hierarchy: they are then left out, and
// only their timestamp says when the sample was taken.

// cpuSample is the last CPU reading of a cgroup, for the usage rate.
type cpuSample struct {
	at    int64  // unix nanoseconds
	usage uint64 // nanoseconds of CPU time
}

type cpuSamples struct {
	mu   sync.Mutex
	last map[string]cpuSample
}

// rate returns the CPU use in nanocores since the previous sample of key.
func (c *cpuSamples) rate(key string, now cpuSample) *runtimeapi.UInt64Value {
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

func (c *cpuSamples) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.last, key)
}

// readKeyed reads a flat-keyed cgroup file (cpu.stat, memory.stat).
func readKeyed(path string) (map[string]uint64, error) {
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

func readUint(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// cgroupStats samples one cgroup; key names it for the CPU rate.
func (s *Service) cgroupStats(dir, key string) (*runtimeapi.CpuUsage, *runtimeapi.MemoryUsage) {
	now := time.Now().UnixNano()
	cpu := &runtimeapi.CpuUsage{Timestamp: now}
	mem := &runtimeapi.MemoryUsage{Timestamp: now}
	if dir == "" {
		return cpu, mem
	}
	if st, err := readKeyed(filepath.Join(dir, "cpu.stat")); err == nil {
		usage := st["usage_usec"] * 1000
		cpu.UsageCoreNanoSeconds = &runtimeapi.UInt64Value{Value: usage}
		cpu.UsageNanoCores = s.cpuSamples.rate(key, cpuSample{at: now, usage: usage})
	}
	if current, ok := readUint(filepath.Join(dir, "memory.current")); ok {
		mem.UsageBytes = &runtimeapi.UInt64Value{Value: current}
		workingSet := current
		if st, err := readKeyed(filepath.Join(dir, "memory.stat")); err == nil {
			if inactive := st["inactive_file"]; inactive < workingSet {
				workingSet -= inactive
			}
			mem.RssBytes = &runtimeapi.UInt64Value{Value: st["anon"]}
			mem.PageFaults = &runtimeapi.UInt64Value{Value: st["pgfault"]}
			mem.MajorPageFaults = &runtimeapi.UInt64Value{Value: st["pgmajfault"]}
		}
		mem.WorkingSetBytes = &runtimeapi.UInt64Value{Value: workingSet}
		if max, ok := readUint(filepath.Join(dir, "memory.max")); ok && max > current {
			mem.AvailableBytes = &runtimeapi.UInt64Value{Value: max - current}
		}
	}
	return cpu, mem
}

// v1MemoryStats fills mem from a container's own cgroup v1 memory
// directory (hosts whose memory controller is on v1), as cAdvisor reads it.
func v1MemoryStats(dir string, mem *runtimeapi.MemoryUsage) {
	usage, ok := readUint(filepath.Join(dir, "memory.usage_in_bytes"))
	if !ok {
		return
	}
	mem.UsageBytes = &runtimeapi.UInt64Value{Value: usage}
	workingSet := usage
	if st, err := readKeyed(filepath.Join(dir, "memory.stat")); err == nil {
		if inactive := st["total_inactive_file"]; inactive < workingSet {
			workingSet -= inactive
		} else {
			workingSet = 0
		}
		mem.RssBytes = &runtimeapi.UInt64Value{Value: st["total_rss"]}
		mem.PageFaults = &runtimeapi.UInt64Value{Value: st["total_pgfault"]}
		mem.MajorPageFaults = &runtimeapi.UInt64Value{Value: st["total_pgmajfault"]}
	}
	mem.WorkingSetBytes = &runtimeapi.UInt64Value{Value: workingSet}
	if limit, ok := readUint(filepath.Join(dir, "memory.limit_in_bytes")); ok && limit > workingSet && limit < 1<<62 {
		mem.AvailableBytes = &runtimeapi.UInt64Value{Value: limit - workingSet}
	}
}

// containerStats samples a container; one that is not running has usage
// timestamps and no figures.
func (s *Service) containerStats(ctx context.Context, c *container) *runtimeapi.ContainerStats {
	cfg := c.config
	out := &runtimeapi.ContainerStats{Attributes: &runtimeapi.ContainerAttributes{
		Id: c.ID, Metadata: cfg.GetMetadata(), Labels: cfg.GetLabels(), Annotations: cfg.GetAnnotations(),
	}}
	dir := ""
	if sb, err := s.sandboxes.get(c.SandboxID); err == nil && sb.state == runtimeapi.PodSandboxState_SANDBOX_READY {
		if st := s.readAppState(c, sb); st.state == runtimeapi.ContainerState_CONTAINER_RUNNING {
			if d, err := s.appCgroups.path(ctx, sb.Unit, c.App); err == nil {
				dir = d
			}
		}
	}
	out.Cpu, out.Memory = s.cgroupStats(dir, c.ID)
	if v1 := c.CgroupsV1[cgroupMemory]; dir != "" && out.Memory.UsageBytes == nil && v1 != "" {
		v1MemoryStats(v1, out.Memory)
	}
	if dir == "" {
		s.cpuSamples.forget(c.ID)
	}
	return out
}

// ContainerStats samples one container's cgroup: no process is spawned.
func (s *Service) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	c, err := s.containers.get(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: s.containerStats(ctx, c)}, nil
}

// ListContainerStats samples every container the filter selects.
func (s *Service) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	f := req.GetFilter()
	var out []*runtimeapi.ContainerStats
	for _, c := range s.containers.list() {
		if c.Phase == phaseCreating {
			continue
		}
		if !c.matches(f.GetId(), f.GetPodSandboxId(), f.GetLabelSelector()) {
			continue
		}
		out = append(out, s.containerStats(ctx, c))
	}
	return &runtimeapi.ListContainerStatsResponse{Stats: out}, nil
}

// podStats samples a pod: its unit's cgroup holds the pod's systemd and
// every app.
func (s *Service) podStats(ctx context.Context, sb *sandbox) *runtimeapi.PodSandboxStats {
	md := sb.metadata()
	out := &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{
			Id: sb.ID, Metadata: md, Labels: sb.config.GetLabels(), Annotations: sb.config.GetAnnotations(),
		},
		Linux: &runtimeapi.LinuxPodSandboxStats{},
	}
	dir := ""
	if sb.state == runtimeapi.PodSandboxState_SANDBOX_READY {
		if st, err := s.systemd.State(ctx, sb.Unit); err == nil && st.ControlGroup != "" {
			if root, err := cgroup2Root(); err == nil {
				dir = filepath.Join(root, st.ControlGroup)
			}
		}
	}
	out.Linux.Cpu, out.Linux.Memory = s.cgroupStats(dir, "pod:"+sb.ID)
	if dir != "" {
		if n, ok := readUint(filepath.Join(dir, "pids.current")); ok {
			out.Linux.Process = &runtimeapi.ProcessUsage{Timestamp: out.Linux.Cpu.Timestamp, ProcessCount: &runtimeapi.UInt64Value{Value: n}}
		}
	}
	for _, c := range s.containers.inSandbox(sb.ID) {
		if c.Phase != phaseCreating {
			out.Linux.Containers = append(out.Linux.Containers, s.containerStats(ctx, c))
		}
	}
	return out
}

// PodSandboxStats samples one pod and its containers.
func (s *Service) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	sb, err := s.sandboxes.get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: s.podStats(ctx, sb)}, nil
}

// ListPodSandboxStats samples every pod the filter selects.
func (s *Service) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	f := req.GetFilter()
	var out []*runtimeapi.PodSandboxStats
	for _, sb := range s.sandboxes.list() {
		if f.GetId() != "" && !strings.HasPrefix(sb.ID, f.GetId()) {
			continue
		}
		if !matchLabels(sb.config.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		out = append(out, s.podStats(ctx, sb))
	}
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: out}, nil
}
