package rktlet

import (
	"context"
	"fmt"

	"github.com/rktlet/rktlet/internal/cgroups"
	"github.com/rktlet/rktlet/internal/store"
	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// UpdatePodSandboxResources takes a pod's new resources after an in-place
// resize. The pod's limits belong to its cgroup parent, which the kubelet
// creates and resizes itself; rktlet's own cgroups are the containers',
// which UpdateContainerResources changes. So the resources are checked,
// recorded and reported (verbose PodSandboxStatus), and nothing else of
// the pod changes.
func (s *Service) UpdatePodSandboxResources(_ context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	for name, r := range map[string]*runtimeapi.LinuxContainerResources{"overhead": req.GetOverhead(), "resources": req.GetResources()} {
		if err := cgroups.ValidateResources(r); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	sb, err := s.sandboxes.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	pod := &runtimeapi.LinuxPodSandboxConfig{Overhead: req.GetOverhead(), Resources: req.GetResources()}
	raw, err := protojson.Marshal(pod)
	if err != nil {
		return nil, err
	}
	unlock := s.sandboxes.Lock(sb.ID)
	defer unlock()
	if _, err := s.sandboxes.Replace(sb.ID, func(next *store.Sandbox) { next.ResourcesJSON = raw }); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}
