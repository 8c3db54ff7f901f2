package rktlet

import (
	"context"
	"errors"
	"fmt"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/store"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveContainer stops a container if it runs and removes its rkt app and
// record. Removing an unknown container is not an error.
func (s *Service) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	c, unlock, err := s.containers.GetLocked(req.GetContainerId())
	if errors.Is(err, errdefs.ErrNotFound) {
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.removeContainer(ctx, c); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func (s *Service) removeContainer(ctx context.Context, c *store.Container) error {
	if err := s.stopContainer(ctx, c, 0); err != nil {
		return err
	}
	if sb, err := s.sandboxes.Get(c.SandboxID); err == nil && sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
		if err := s.rktCmd.AppRemove(ctx, sb.RktUUID, c.App); err != nil && s.podStillRunning(ctx, sb) {
			return fmt.Errorf("removing container %s: %w", c.ID, err)
		}
	}
	// In a stopped pod the app goes with the pod's `rkt rm`.
	s.logs.RemoveContainer(c.ID)
	s.cpuSamples.Forget(c.ID)
	sb, _ := s.sandboxes.Get(c.SandboxID)
	if err := s.limits.Release(ctx, cgroupPod(sb), c.ID, c.App, c.CgroupsV1); err != nil {
		return fmt.Errorf("removing the cgroups of container %s: %w", c.ID, err)
	}
	return s.containers.Delete(c.ID)
}

// podStillRunning tells, after `rkt app rm` failed, whether the pod is
// still up: a kubelet removes a dead container's earlier attempts while
// it stops the pod, and in a pod going down the app goes with the pod's
// `rkt rm` instead. Asked of systemd, since the pod's state in memory
// follows its unit's with a delay.
func (s *Service) podStillRunning(ctx context.Context, sb *store.Sandbox) bool {
	st, err := s.systemd.State(ctx, sb.Unit)
	if err != nil {
		return true
	}
	return sandboxStateOf(sb, st.ActiveState) == runtimeapi.PodSandboxState_SANDBOX_READY
}
