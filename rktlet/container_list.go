package rktlet

import (
	"context"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListContainers answers from the records and stage1's status files: no
// process is spawned.
func (s *Service) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f := req.GetFilter()
	resp := &runtimeapi.ListContainersResponse{}
	for _, c := range s.containers.list() {
		if !c.matches(f.GetId(), f.GetPodSandboxId(), f.GetLabelSelector()) {
			continue
		}
		sb, _ := s.sandboxes.get(c.SandboxID)
		st := s.readAppState(c, sb)
		if f.GetState() != nil && f.GetState().GetState() != st.state {
			continue
		}
		resp.Containers = append(resp.Containers, &runtimeapi.Container{
			Id:           c.ID,
			PodSandboxId: c.SandboxID,
			Metadata:     c.config.GetMetadata(),
			Image:        &runtimeapi.ImageSpec{Image: c.config.GetImage().GetImage()},
			ImageRef:     c.ImageID,
			ImageId:      c.ImageID,
			State:        st.state,
			CreatedAt:    c.CreatedAt,
			Labels:       c.config.GetLabels(),
			Annotations:  c.config.GetAnnotations(),
		})
	}
	return resp, nil
}

// matches applies the ID, sandbox ID (both may be prefixes) and label parts
// of a ListContainers or ListContainerStats filter.
func (c *container) matches(id, sandboxID string, labels map[string]string) bool {
	return strings.HasPrefix(c.ID, id) && strings.HasPrefix(c.SandboxID, sandboxID) &&
		matchLabels(c.config.GetLabels(), labels)
}
