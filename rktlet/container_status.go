package rktlet

import (
	"context"
	"encoding/json"
	"path/filepath"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerStatus answers from the record and stage1's status files: no
// process is spawned.
func (s *Service) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	if err := s.requireRecovered(); err != nil {
		return nil, err
	}
	c, err := s.containers.get(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	sb, _ := s.sandboxes.get(c.SandboxID)
	st := s.readAppState(c, sb)
	cfg := c.config
	status := &runtimeapi.ContainerStatus{
		Id:          c.ID,
		Metadata:    cfg.GetMetadata(),
		State:       st.state,
		CreatedAt:   c.CreatedAt,
		StartedAt:   st.startedAt,
		FinishedAt:  st.finishedAt,
		ExitCode:    st.exitCode,
		Image:       &runtimeapi.ImageSpec{Image: cfg.GetImage().GetImage(), UserSpecifiedImage: cfg.GetImage().GetUserSpecifiedImage()},
		ImageRef:    c.ImageID,
		ImageId:     c.ImageID,
		Reason:      st.reason,
		Message:     st.message,
		Labels:      cfg.GetLabels(),
		Annotations: cfg.GetAnnotations(),
		Mounts:      cfg.GetMounts(),
		User: &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{
			Uid: c.User.UID, Gid: c.User.GID, SupplementalGroups: c.User.Groups,
		}},
	}
	if sb != nil && cfg.GetLogPath() != "" {
		status.LogPath = filepath.Join(sb.config.GetLogDirectory(), cfg.GetLogPath())
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: status}
	if req.GetVerbose() {
		info := map[string]any{"app": c.App, "aci": c.ACI, "sandboxID": c.SandboxID}
		if sb != nil {
			info["podUnit"] = sb.Unit
			info["appUnit"] = c.App + ".service"
			info["rktUUID"] = sb.RktUUID
		}
		b, err := json.Marshal(info)
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}
