package rktlet

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/rktlet/rktlet/internal/cgroups"
	"github.com/rktlet/rktlet/internal/store"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Stats are read from the container's cgroup (internal/cgroups): no
// process is spawned.

// containerStats samples a container; one that is not running has usage
// timestamps and no figures.
func (s *Service) containerStats(ctx context.Context, c *store.Container) *runtimeapi.ContainerStats {
	cfg := c.Config
	out := &runtimeapi.ContainerStats{Attributes: &runtimeapi.ContainerAttributes{
		Id: c.ID, Metadata: cfg.GetMetadata(), Labels: cfg.GetLabels(), Annotations: cfg.GetAnnotations(),
	}}
	dir := ""
	if sb, err := s.sandboxes.Get(c.SandboxID); err == nil && sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
		if st := s.readAppState(c, sb); st.state == runtimeapi.ContainerState_CONTAINER_RUNNING {
			if d, err := s.appCgroups.ContainerPath(ctx, sb.Unit, c.App); err == nil {
				dir = d
			}
		}
	}
	out.Cpu, out.Memory = s.cpuSamples.Sample(dir, c.ID)
	if v1 := c.CgroupsV1["memory"]; dir != "" && out.Memory.UsageBytes == nil && v1 != "" {
		cgroups.V1MemoryStats(v1, out.Memory)
	}
	if dir == "" {
		s.cpuSamples.Forget(c.ID)
	}
	return out
}

// ContainerStats samples one container's cgroup: no process is spawned.
func (s *Service) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	c, err := s.containers.Get(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: s.containerStats(ctx, c)}, nil
}

// ListContainerStats samples every container the filter selects.
func (s *Service) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	f := req.GetFilter()
	var out []*runtimeapi.ContainerStats
	for _, c := range s.containers.List() {
		if c.Phase == store.PhaseCreating {
			continue
		}
		if !c.Matches(f.GetId(), f.GetPodSandboxId(), f.GetLabelSelector()) {
			continue
		}
		out = append(out, s.containerStats(ctx, c))
	}
	return &runtimeapi.ListContainerStatsResponse{Stats: out}, nil
}

// podStats samples a pod: its unit's cgroup holds the pod's systemd and
// every app.
func (s *Service) podStats(ctx context.Context, sb *store.Sandbox) *runtimeapi.PodSandboxStats {
	md := sb.Metadata()
	out := &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{
			Id: sb.ID, Metadata: md, Labels: sb.Config.GetLabels(), Annotations: sb.Config.GetAnnotations(),
		},
		Linux: &runtimeapi.LinuxPodSandboxStats{},
	}
	dir := ""
	if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
		if st, err := s.systemd.State(ctx, sb.Unit); err == nil && st.ControlGroup != "" {
			if root, err := cgroups.Root(); err == nil {
				dir = filepath.Join(root, st.ControlGroup)
			}
		}
	}
	out.Linux.Cpu, out.Linux.Memory = s.cpuSamples.Sample(dir, "pod:"+sb.ID)
	if dir != "" {
		if n, ok := cgroups.ReadUint(filepath.Join(dir, "pids.current")); ok {
			out.Linux.Process = &runtimeapi.ProcessUsage{Timestamp: out.Linux.Cpu.Timestamp, ProcessCount: &runtimeapi.UInt64Value{Value: n}}
		}
	}
	for _, c := range s.containers.InSandbox(sb.ID) {
		if c.Phase != store.PhaseCreating {
			out.Linux.Containers = append(out.Linux.Containers, s.containerStats(ctx, c))
		}
	}
	return out
}

// PodSandboxStats samples one pod and its containers.
func (s *Service) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	sb, err := s.sandboxes.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: s.podStats(ctx, sb)}, nil
}

// ListPodSandboxStats samples every pod the filter selects.
func (s *Service) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	f := req.GetFilter()
	var out []*runtimeapi.PodSandboxStats
	for _, sb := range s.sandboxes.List() {
		if f.GetId() != "" && !strings.HasPrefix(sb.ID, f.GetId()) {
			continue
		}
		if !store.MatchLabels(sb.Config.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		out = append(out, s.podStats(ctx, sb))
	}
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: out}, nil
}
