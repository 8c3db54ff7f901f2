package rktlet

import (
	"context"
	"strings"

	"github.com/rktlet/rktlet/internal/store"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListPodSandbox answers from the in-memory index: no process is spawned.
func (s *Service) ListPodSandbox(ctx context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	f := req.GetFilter()
	resp := &runtimeapi.ListPodSandboxResponse{}
	for _, sb := range s.sandboxes.List() {
		if f.GetId() != "" && !strings.HasPrefix(sb.ID, f.GetId()) {
			continue
		}
		if f.GetState() != nil && f.GetState().GetState() != sb.State {
			continue
		}
		if !store.MatchLabels(sb.Config.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		resp.Items = append(resp.Items, &runtimeapi.PodSandbox{
			Id:          sb.ID,
			Metadata:    sb.Config.GetMetadata(),
			State:       sb.State,
			CreatedAt:   sb.CreatedAt,
			Labels:      sb.Config.GetLabels(),
			Annotations: sb.Config.GetAnnotations(),
		})
	}
	return resp, nil
}
