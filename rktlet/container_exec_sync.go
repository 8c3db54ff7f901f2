package rktlet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxExecOutput caps ExecSync's stdout and stderr together, as containerd
// does: the kubelet's gRPC client takes answers of up to 16 MiB, and the
// rest of the message needs a little room.
const maxExecOutput = 16<<20 - 64<<10

// ExecSync runs a command in a running container with `rkt enter`, with
// stdout and stderr apart and the timeout honoured: the command is killed
// when it runs out and the call fails with DeadlineExceeded.
func (s *Service) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	if err := validateCmd(req.GetCmd()); err != nil {
		return nil, err
	}
	c, err := s.containers.Get(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	sb, err := s.sandboxes.Get(c.SandboxID)
	if err != nil {
		return nil, err
	}
	if st := s.readAppState(c, sb); st.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil, fmt.Errorf("container %s is %s, not running: %w", c.ID, st.state, errdefs.ErrFailedPrecondition)
	}
	timeout, err := timeoutSeconds("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// The command runs as the container's own user, with its capabilities
	// and seccomp filter, as with the kubelet's other runtimes.
	user, err := s.execUser(ctx, c, sb)
	if err != nil {
		return nil, err
	}
	stdout, stderr, code, err := s.rktCmd.Enter(ctx, sb.RktUUID, c.App, user, req.GetCmd(), maxExecOutput)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("command %q in container %s timed out after %ds: %w", req.GetCmd(), c.ID, req.GetTimeout(), context.DeadlineExceeded)
	}
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", c.ID, err)
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout, Stderr: stderr, ExitCode: int32(code)}, nil
}

// validateCmd checks an exec's command: not empty, and no NUL byte, which
// no command line can carry.
func validateCmd(cmd []string) error {
	if len(cmd) == 0 {
		return fmt.Errorf("cmd is empty: %w", errdefs.ErrInvalidArgument)
	}
	for i, a := range cmd {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("cmd[%d] holds a NUL byte: %w", i, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
