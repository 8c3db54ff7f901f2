package rktlet

import (
	"context"
	"errors"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemovePodSandbox stops a pod if needed and removes it: unit, network, rkt
// pod and state. Removing an unknown sandbox is not an error.
func (s *Service) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	sb, unlock, err := s.sandboxes.GetLocked(req.GetPodSandboxId())
	if errors.Is(err, errdefs.ErrNotFound) {
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.teardownSandbox(ctx, sb, teardownRemove); err != nil {
		return nil, err
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}
