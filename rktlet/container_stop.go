package rktlet

import (
	"context"
	"errors"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StopContainer stops a running container: SIGTERM through the pod's
// systemd, and when the timeout runs out (at once for 0) SIGKILL to every
// process of the app. Stopping a stopped or unknown container is not an
// error.
func (s *Service) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	if err := s.requireRecovered(); err != nil {
		return nil, err
	}
	c, err := s.containers.get(req.GetContainerId())
	if errors.Is(err, ErrNotFound) {
		return &runtimeapi.StopContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	unlock := s.containers.lock(c.ID)
	defer unlock()
	if err := s.stopContainer(ctx, c, time.Duration(req.GetTimeout())*time.Second); err != nil {
		return nil, err
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

func (s *Service) stopContainer(ctx context.Context, c *container, timeout time.Duration) error {
	sb, err := s.sandboxes.get(c.SandboxID)
	if err != nil {
		return nil // its pod is gone, and its processes with it
	}
	if s.readAppState(c, sb).state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil
	}
	if timeout > 0 {
		stopCtx, cancel := context.WithTimeout(ctx, timeout)
		err := s.rktApps.AppStop(stopCtx, sb.RktUUID, c.App)
		cancel()
		if err == nil && s.waitExited(ctx, c, sb, 2*time.Second) {
			return nil
		}
	}
	if err := s.killApp(ctx, sb, c); err != nil {
		return fmt.Errorf("killing container %s: %w", c.ID, err)
	}
	if !s.waitExited(ctx, c, sb, 10*time.Second) {
		return fmt.Errorf("container %s did not exit after SIGKILL: %w", c.ID, ErrUnavailable)
	}
	return nil
}

// waitExited waits until stage1 recorded the app's exit.
func (s *Service) waitExited(ctx context.Context, c *container, sb *sandbox, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if s.readAppState(c, sb).state == runtimeapi.ContainerState_CONTAINER_EXITED {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killApp sends SIGKILL to every process of the app's unit inside the pod,
// through the pod's systemd (rkt app stop, whose unit stop escalates), or
// directly through the app's cgroup when that does not end it.
func (s *Service) killApp(ctx context.Context, sb *sandbox, c *container) error {
	return s.appCgroups.Kill(ctx, sb.Unit, c.App)
}
