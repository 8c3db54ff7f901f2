package rktlet

import (
	"context"
	"encoding/json"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerStatus answers from the record and stage1's status files: no
// process is spawned.
func (s *Service) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	c, err := s.containers.Get(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	sb, _ := s.sandboxes.Get(c.SandboxID)
	st := s.readAppState(c, sb)
	if st.state == runtimeapi.ContainerState_CONTAINER_EXITED {
		// As other runtimes do, an exit is reported once the container's
		// output is in its log file: whoever reads the file after seeing
		// EXITED finds every line. Stage1 drains the app's pipes for a
		// bounded time, hence the deadline.
		s.logs.WaitDrained(ctx, c.ID, time.Unix(0, st.finishedAt).Add(logDrainLimit))
	}
	if problem := s.logs.Problem(c.ID); problem != "" {
		if st.message != "" {
			st.message += "; "
		}
		st.message += problem
	}
	cfg := c.Config
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
		StopSignal:  cfg.GetStopSignal(),
		Resources:   &runtimeapi.ContainerResources{Linux: c.Resources()},
		User: &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{
			Uid: c.User.UID, Gid: c.User.GID, SupplementalGroups: c.User.Groups,
		}},
	}
	status.LogPath = logPath(sb, cfg)
	resp := &runtimeapi.ContainerStatusResponse{Status: status}
	if req.GetVerbose() {
		info := map[string]any{"app": c.App, "aci": c.ACI, "sandboxID": c.SandboxID}
		if sb != nil {
			info["podUnit"] = sb.Unit
			info["appUnit"] = c.App + ".service"
			info["rktUUID"] = sb.RktUUID
			if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
				if dir, err := s.appCgroups.ContainerPath(ctx, sb.Unit, c.App); err == nil {
					info["cgroup"] = dir
				}
			}
		}
		if len(c.CgroupsV1) > 0 {
			info["cgroupsV1"] = c.CgroupsV1
		}
		if skipped := s.limits.NotEnforced(c.Resources()); len(skipped) > 0 {
			info["resourcesNotEnforced"] = skipped
		}
		b, err := json.Marshal(info)
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}
