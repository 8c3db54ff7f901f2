package rktlet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/cgroups"
	"github.com/rktlet/rktlet/internal/store"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// UpdateContainerResources changes the limits of a created or running
// container: a running one's cgroup files at once, a created one's when it
// starts. ContainerStatus reports them from then on.
func (s *Service) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	r := req.GetLinux()
	if r == nil {
		if req.GetWindows() != nil {
			return nil, fmt.Errorf("windows resources given to a Linux runtime: %w", errdefs.ErrInvalidArgument)
		}
		return nil, fmt.Errorf("linux resources are missing: %w", errdefs.ErrInvalidArgument)
	}
	if err := cgroups.ValidateResources(r); err != nil {
		return nil, err
	}
	c, unlock, err := s.containers.GetLocked(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	defer unlock()
	sb, _ := s.sandboxes.Get(c.SandboxID)
	st := s.readAppState(c, sb)
	switch st.state {
	case runtimeapi.ContainerState_CONTAINER_CREATED, runtimeapi.ContainerState_CONTAINER_RUNNING:
	default:
		return nil, fmt.Errorf("container %s is %s: only a created or running container's resources can change: %w", c.ID, st.state, errdefs.ErrFailedPrecondition)
	}
	r = proto.Clone(r).(*runtimeapi.LinuxContainerResources)
	if err := s.limits.Update(ctx, cgroupPod(sb), c.App, c.CgroupsV1, r); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	if st.state == runtimeapi.ContainerState_CONTAINER_RUNNING {
		if r.OomScoreAdj != c.Resources().GetOomScoreAdj() {
			if err := s.setOOMScoreAdj(ctx, c, sb, r.OomScoreAdj); err != nil {
				return nil, err
			}
		}
	}
	raw, err := protojson.Marshal(r)
	if err != nil {
		return nil, err
	}
	if _, err := s.containers.Replace(c.ID, func(next *store.Container) { next.ResourcesJSON, next.Updated = raw, r }); err != nil {
		return nil, err
	}
	if skipped := s.limits.NotEnforced(r); !slices.Equal(skipped, s.limits.NotEnforced(c.Resources())) && len(skipped) > 0 {
		s.logger(ctx).Info("container resources recorded but not enforced on this host", "container", c.ID, "settings", skipped)
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

// setOOMScoreAdj gives every process of a running app a new oom_score_adj.
func (s *Service) setOOMScoreAdj(ctx context.Context, c *store.Container, sb *store.Sandbox, adj int64) error {
	pids, err := s.appCgroups.PIDs(ctx, sb.Unit, c.App)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		err := os.WriteFile(filepath.Join("/proc", strconv.Itoa(pid), "oom_score_adj"), []byte(strconv.FormatInt(adj, 10)), 0)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("setting oom_score_adj of process %d of container %s: %w", pid, c.ID, err)
		}
	}
	return nil
}
