package rktlet

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/store"
	"github.com/rktlet/rktlet/streaming"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runningContainer returns a container that runs, with its pod.
func (s *Service) runningContainer(id string) (*store.Container, *store.Sandbox, error) {
	c, err := s.containers.Get(id)
	if err != nil {
		return nil, nil, err
	}
	sb, err := s.sandboxes.Get(c.SandboxID)
	if err != nil {
		return nil, nil, err
	}
	if st := s.readAppState(c, sb); st.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil, nil, fmt.Errorf("container %s is %s, not running: %w", c.ID, st.state, errdefs.ErrFailedPrecondition)
	}
	return c, sb, nil
}

// Exec returns a URL on the streaming server for a command in a running
// container.
func (s *Service) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if err := validateCmd(req.GetCmd()); err != nil {
		return nil, err
	}
	if !req.GetStdin() && !req.GetStdout() && !req.GetStderr() {
		return nil, fmt.Errorf("one of stdin, stdout and stderr must be set: %w", errdefs.ErrInvalidArgument)
	}
	if req.GetTty() && req.GetStderr() {
		return nil, fmt.Errorf("tty and stderr cannot both be set (a terminal has one output): %w", errdefs.ErrInvalidArgument)
	}
	if _, _, err := s.runningContainer(req.GetContainerId()); err != nil {
		return nil, err
	}
	return s.stream.GetExec(req)
}

// Attach returns a URL on the streaming server for a running container's
// own stdio.
func (s *Service) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if !req.GetStdin() && !req.GetStdout() && !req.GetStderr() {
		return nil, fmt.Errorf("one of stdin, stdout and stderr must be set: %w", errdefs.ErrInvalidArgument)
	}
	c, _, err := s.runningContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if req.GetStdin() && !c.Config.GetStdin() {
		return nil, fmt.Errorf("container %s was created without stdin: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	if req.GetTty() != c.Config.GetTty() {
		return nil, fmt.Errorf("container %s has tty=%t, the attach asked for tty=%t: %w", c.ID, c.Config.GetTty(), req.GetTty(), errdefs.ErrInvalidArgument)
	}
	return s.stream.GetAttach(req)
}

// PortForward returns a URL on the streaming server for connections to
// ports inside a ready pod.
func (s *Service) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	sb, err := s.sandboxes.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	if sb.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, fmt.Errorf("pod sandbox %s is not ready: %w", sb.ID, errdefs.ErrFailedPrecondition)
	}
	for _, p := range req.GetPort() {
		if p <= 0 || p > 65535 {
			return nil, fmt.Errorf("port %d is not a TCP port: %w", p, errdefs.ErrInvalidArgument)
		}
	}
	return s.stream.GetPortForward(req)
}

// ExecTarget resolves a container for the streaming runtime.
func (s *Service) ExecTarget(ctx context.Context, id string) (streaming.ExecTarget, error) {
	c, sb, err := s.runningContainer(id)
	if err != nil {
		return streaming.ExecTarget{}, err
	}
	user, err := s.execUser(ctx, c, sb)
	if err != nil {
		return streaming.ExecTarget{}, err
	}
	return streaming.ExecTarget{PodUUID: sb.RktUUID, App: c.App, User: user}, nil
}

// AttachTarget finds a running container's iottymux sockets through the
// pod leader's root.
func (s *Service) AttachTarget(ctx context.Context, id string) (streaming.AttachTarget, error) {
	c, sb, err := s.runningContainer(id)
	if err != nil {
		return streaming.AttachTarget{}, err
	}
	leader, err := s.appCgroups.PodInitPID(ctx, sb.Unit)
	if err != nil {
		return streaming.AttachTarget{}, fmt.Errorf("finding pod %s: %w", sb.ID, err)
	}
	dir := filepath.Join("/proc", fmt.Sprint(leader), "root", "rkt", "iottymux", c.App)
	t := streaming.AttachTarget{IODir: dir, TTY: c.Config.GetTty()}
	if t.TTY {
		t.TTYDevice = filepath.Join(dir, "stage2-pts")
	}
	return t, nil
}

// PodNetNS is a ready pod's network namespace, "" for host network.
func (s *Service) PodNetNS(ctx context.Context, id string) (string, error) {
	sb, err := s.sandboxes.Get(id)
	if err != nil {
		return "", err
	}
	if sb.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		return "", fmt.Errorf("pod sandbox %s is not ready: %w", sb.ID, errdefs.ErrFailedPrecondition)
	}
	if sb.HostNetwork {
		return "", nil
	}
	return sb.NetNS, nil
}
