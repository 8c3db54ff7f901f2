package rktlet

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StartContainer starts a created container's rkt app.
func (s *Service) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	if err := s.requireRecovered(); err != nil {
		return nil, err
	}
	c, err := s.containers.get(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	unlock := s.containers.lock(c.ID)
	defer unlock()
	sb, err := s.sandboxes.get(c.SandboxID)
	if err != nil {
		return nil, err
	}
	if st := s.readAppState(c, sb); st.state != runtimeapi.ContainerState_CONTAINER_CREATED {
		return nil, fmt.Errorf("container %s is %s, not created: %w", c.ID, st.state, ErrFailedPrecondition)
	}
	start := func() error { return s.rktApps.AppStart(ctx, sb.RktUUID, c.App) }
	if err := s.startInOwnCgroups(ctx, c, sb, start); err != nil {
		return nil, fmt.Errorf("starting container %s: %w", c.ID, err)
	}
	return &runtimeapi.StartContainerResponse{}, nil
}
