package rktlet

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListContainers answers from the records and stage1's status files: no
// process is spawned.
func (s *Service) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f := req.GetFilter()
	resp := &runtimeapi.ListContainersResponse{}
	for _, c := range s.containers.List() {
		if !c.Matches(f.GetId(), f.GetPodSandboxId(), f.GetLabelSelector()) {
			continue
		}
		sb, _ := s.sandboxes.Get(c.SandboxID)
		st := s.readAppState(c, sb)
		if f.GetState() != nil && f.GetState().GetState() != st.state {
			continue
		}
		resp.Containers = append(resp.Containers, &runtimeapi.Container{
			Id:           c.ID,
			PodSandboxId: c.SandboxID,
			Metadata:     c.Config.GetMetadata(),
			Image:        &runtimeapi.ImageSpec{Image: c.Config.GetImage().GetImage()},
			ImageRef:     c.ImageID,
			ImageId:      c.ImageID,
			State:        st.state,
			CreatedAt:    c.CreatedAt,
			Labels:       c.Config.GetLabels(),
			Annotations:  c.Config.GetAnnotations(),
		})
	}
	return resp, nil
}
