package rktlet

import (
	"context"
	"encoding/json"

	"google.golang.org/protobuf/encoding/protojson"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PodSandboxStatus answers from the in-memory index, kept current by
// systemd's signals: no process is spawned.
func (s *Service) PodSandboxStatus(ctx context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	sb, err := s.sandboxes.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	cfg := sb.Config
	status := &runtimeapi.PodSandboxStatus{
		Id:          sb.ID,
		Metadata:    cfg.GetMetadata(),
		State:       sb.State,
		CreatedAt:   sb.CreatedAt,
		Labels:      cfg.GetLabels(),
		Annotations: cfg.GetAnnotations(),
		Linux: &runtimeapi.LinuxPodSandboxStatus{
			Namespaces: &runtimeapi.Namespace{Options: cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()},
		},
	}
	if len(sb.IPs) > 0 && sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
		status.Network = &runtimeapi.PodSandboxNetworkStatus{Ip: sb.IPs[0]}
		for _, ip := range sb.IPs[1:] {
			status.Network.AdditionalIps = append(status.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: status}
	if req.GetVerbose() {
		resources, err := protojson.Marshal(sb.Resources())
		if err != nil {
			return nil, err
		}
		info, err := json.Marshal(map[string]any{
			"resources":   json.RawMessage(resources),
			"unit":        sb.Unit,
			"rktUUID":     sb.RktUUID,
			"machine":     machineName(sb.RktUUID),
			"netns":       sb.NetNS,
			"hostNetwork": sb.HostNetwork,
			"phase":       sb.Phase,
		})
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}

// machineName is the pod's name in machinectl.
func machineName(uuid string) string {
	if uuid == "" {
		return ""
	}
	return "rkt-" + uuid
}
