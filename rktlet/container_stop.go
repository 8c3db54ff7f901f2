package rktlet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/store"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StopContainer stops a running container: SIGTERM through the pod's
// systemd, and when the timeout runs out (at once for 0) SIGKILL to every
// process of the app. Stopping a stopped or unknown container is not an
// error.
func (s *Service) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	c, unlock, err := s.containers.GetLocked(req.GetContainerId())
	if errors.Is(err, errdefs.ErrNotFound) {
		return &runtimeapi.StopContainerResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	timeout, err := timeoutSeconds("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	if err := s.stopContainer(ctx, c, timeout); err != nil {
		return nil, err
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

func (s *Service) stopContainer(ctx context.Context, c *store.Container, timeout time.Duration) error {
	sb, err := s.sandboxes.Get(c.SandboxID)
	if err != nil {
		return nil // its pod is gone, and its processes with it
	}
	if s.readAppState(c, sb).state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil
	}
	if timeout > 0 {
		// The stop signal goes straight to the app's processes through its
		// cgroup, as the pod's systemd would send it for a stop (its
		// private socket refuses peers from outside the pod's PID
		// namespace, and `rkt app stop` costs three processes and a
		// systemctl): the app exits as killed by it, and its reaper
		// records the code.
		sig := stopSignal(c.Config)
		if err := s.appCgroups.Signal(ctx, sb.Unit, c.App, sig); err == nil {
			if s.waitExited(ctx, c, sb, timeout) {
				return nil
			}
		} else {
			s.logger(ctx).Debug("signalling an app through its cgroup failed; using rkt app stop", "container", c.ID, "error", err)
			stopCtx, cancel := context.WithTimeout(ctx, timeout)
			err := s.rktCmd.AppStop(stopCtx, sb.RktUUID, c.App)
			cancel()
			if err == nil && s.waitExited(ctx, c, sb, 2*time.Second) {
				return nil
			}
		}
	}
	if err := s.killApp(ctx, sb, c); err != nil {
		return fmt.Errorf("killing container %s: %w", c.ID, err)
	}
	if !s.waitExited(ctx, c, sb, 10*time.Second) {
		return fmt.Errorf("container %s did not exit after SIGKILL: %w", c.ID, errdefs.ErrUnavailable)
	}
	return nil
}

// waitExited waits until stage1 recorded the app's exit: woken by the
// write of the exit code file (inotify), or every 20 ms where the status
// directory is not watched.
func (s *Service) waitExited(ctx context.Context, c *store.Container, sb *store.Sandbox, d time.Duration) bool {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		changed := s.pods.Changes(sb.RktUUID)
		if s.readAppState(c, sb).state == runtimeapi.ContainerState_CONTAINER_EXITED {
			return true
		}
		poll := time.NewTimer(20 * time.Millisecond)
		if changed != nil {
			// A safety net only: the change wakes the wait.
			poll.Reset(time.Second)
		}
		select {
		case <-changed:
		case <-poll.C:
		case <-timeout.C:
			poll.Stop()
			return s.readAppState(c, sb).state == runtimeapi.ContainerState_CONTAINER_EXITED
		case <-ctx.Done():
			poll.Stop()
			return false
		}
		poll.Stop()
	}
}

// killApp sends SIGKILL to every process in the app's cgroup (the app unit
// inside the pod): the app and whatever it or an exec started.
func (s *Service) killApp(ctx context.Context, sb *store.Sandbox, c *store.Container) error {
	return s.appCgroups.Kill(ctx, sb.Unit, c.App)
}

// stopSignal is the signal that asks the container to stop: the one its
// config names, SIGTERM by default.
func stopSignal(cfg *runtimeapi.ContainerConfig) syscall.Signal {
	if sig := cfg.GetStopSignal(); sig != runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		if n := unix.SignalNum(strings.TrimPrefix(sig.String(), "SIGNAL_")); n != 0 {
			return n
		}
	}
	return syscall.SIGTERM
}
