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

// appRunningTimeout bounds how long StartContainer waits, after `rkt app
// start` returned, for the app's process to be in its own root: the pod's
// systemd sets up the app's namespace in a few milliseconds, far longer
// only on a machine that is very busy.
const appRunningTimeout = 30 * time.Second

// StartContainer starts a created container's rkt app and answers once the
// app's process runs in its own root (or has already exited), so that an
// exec, a postStart hook or a probe sent the moment it returns finds the
// container's files. A start that fails leaves the container EXITED with
// reason StartError, never RUNNING.
func (s *Service) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	c, unlock, err := s.containers.GetLocked(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	defer unlock()
	sb, err := s.sandboxes.Get(c.SandboxID)
	if err != nil {
		return nil, err
	}
	if st := s.readAppState(c, sb); st.state != runtimeapi.ContainerState_CONTAINER_CREATED {
		return nil, fmt.Errorf("container %s is %s, not created: %w", c.ID, st.state, errdefs.ErrFailedPrecondition)
	}
	err = s.startApp(ctx, c, sb)
	if err == nil {
		err = s.waitAppRunning(ctx, c, sb, appRunningTimeout)
		s.pods.SyncApp(sb.RktUUID, c.App)
	}
	if err != nil {
		err = fmt.Errorf("starting container %s: %w", c.ID, err)
		s.recordStartFailure(ctx, c, sb, err)
		return nil, err
	}
	return &runtimeapi.StartContainerResponse{}, nil
}

// startApp runs `rkt app start` with the container's limits in force
// from the app's fork on. The directories the limiter makes for it are
// recorded first, so that no crash leaves them unknown.
func (s *Service) startApp(ctx context.Context, c *store.Container, sb *store.Sandbox) error {
	pod := cgroupPod(sb)
	dirs, err := s.limits.Dirs(ctx, pod, c.App)
	if err != nil {
		return err
	}
	if len(dirs) > 0 {
		if c, err = s.containers.Replace(c.ID, func(next *store.Container) { next.CgroupsV1 = dirs }); err != nil {
			return err
		}
	}
	return s.limits.Start(ctx, pod, c.App, dirs, c.Resources(), func() error {
		return s.rktCmd.AppStart(ctx, sb.RktUUID, c.App)
	})
}

// waitAppRunning waits until the app has a process in its own root, or has
// exited already. It fails when neither happens within d.
func (s *Service) waitAppRunning(ctx context.Context, c *store.Container, sb *store.Sandbox, d time.Duration) error {
	_, err := s.runningAppPID(ctx, c, sb, d)
	if errors.Is(err, errAppExited) {
		return nil // it ran: its exit is the container's to report
	}
	return err
}

// errAppExited says that the app has no process left because it exited.
var errAppExited = errors.New("the container has exited")

// runningAppPID waits up to d for a process of the app that runs in the
// app's own root (appCgroups.RunningPID) and returns it. It fails with
// errAppExited (wrapping errdefs.ErrFailedPrecondition) when stage1 recorded the
// app's exit, and with errdefs.ErrFailedPrecondition when d ran out.
func (s *Service) runningAppPID(ctx context.Context, c *store.Container, sb *store.Sandbox, d time.Duration) (int, error) {
	deadline := time.Now().Add(d)
	for {
		init, err := s.appCgroups.PodInitPID(ctx, sb.Unit)
		if err == nil {
			var pid int
			if pid, err = s.appCgroups.RunningPID(ctx, sb.Unit, c.App, init); err == nil {
				return pid, nil
			}
		}
		if st := s.readAppState(c, sb); st.state == runtimeapi.ContainerState_CONTAINER_EXITED {
			return 0, fmt.Errorf("container %s: %w: %w", c.ID, errAppExited, errdefs.ErrFailedPrecondition)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("container %s has no process in its own root after %s (%v): %w", c.ID, d, err, errdefs.ErrFailedPrecondition)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// recordStartFailure makes a failed start final: whatever the app got to
// run is killed, and the record says the start failed, so the container
// reports EXITED (StartError) and Stop and Remove of it succeed.
func (s *Service) recordStartFailure(ctx context.Context, c *store.Container, sb *store.Sandbox, cause error) {
	cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.killApp(cleanupCtx, sb, c); err != nil {
		s.logger(ctx).Warn("killing what a failed start left running", "container", c.ID, "error", err)
	}
	if _, err := s.containers.Replace(c.ID, func(next *store.Container) {
		next.StartError = cause.Error()
		next.StartFailedAt = time.Now().UnixNano()
	}); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		s.logger(ctx).Error("recording a failed start", "container", c.ID, "error", err)
	}
}
