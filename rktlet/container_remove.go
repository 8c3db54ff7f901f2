package rktlet

import (
	"context"
	"errors"
	"fmt"
	"time"

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
		s.waitMuxDrained(ctx, sb, c)
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

// muxDrainLimit is how long stage1's I/O multiplexer drains an exited
// app's pipes at most (iottymux's drainLimit), with a margin.
const muxDrainLimit = 3500 * time.Millisecond

// waitMuxDrained waits, for at most muxDrainLimit, until the app's I/O
// multiplexer has shipped the app's last output and exited. `rkt app rm`
// while it drains leaves it stuck until its drain limit, and the pod's
// shutdown then waits for it: a StopPodSandbox right after a container's
// stop and removal took 3 s instead of 0.2 (measured in the bed); waiting
// here costs the 0.3 s of silence it needs to finish, and nothing when the
// container stopped a while ago, as it usually has.
func (s *Service) waitMuxDrained(ctx context.Context, sb *store.Sandbox, c *store.Container) {
	deadline := time.Now().Add(muxDrainLimit)
	for s.appCgroups.MuxRunning(ctx, sb.Unit, c.App) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
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
