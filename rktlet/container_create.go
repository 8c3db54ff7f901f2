package rktlet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/appspec"
	"github.com/rktlet/rktlet/internal/cgroups"
	"github.com/rktlet/rktlet/internal/store"
	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CreateContainer adds the container to its pod as an rkt app.
func (s *Service) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	cfg := req.GetConfig()
	if cfg == nil || cfg.GetMetadata() == nil {
		return nil, fmt.Errorf("config.metadata is missing: %w", errdefs.ErrInvalidArgument)
	}
	if err := appspec.CheckNoNUL("config", cfg); err != nil {
		return nil, err
	}
	if cfg.GetMetadata().GetName() == "" {
		return nil, fmt.Errorf("config.metadata.name is empty: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.GetImage().GetImage() == "" {
		return nil, fmt.Errorf("config.image.image is empty: %w", errdefs.ErrInvalidArgument)
	}
	sb, err := s.sandboxes.Get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	if err := validateLogPath(sb.Config, cfg); err != nil {
		return nil, err
	}
	if sb.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, fmt.Errorf("pod sandbox %s is not ready: %w", sb.ID, errdefs.ErrFailedPrecondition)
	}
	// The name and attempt are reserved in the pod before any work, so
	// that concurrent identical calls make one container.
	unlockName := s.containers.LockName(fmt.Sprintf("%s/%s/%d", sb.ID, cfg.GetMetadata().GetName(), cfg.GetMetadata().GetAttempt()))
	defer unlockName()
	for _, other := range s.containers.InSandbox(sb.ID) {
		md := other.Config.GetMetadata()
		if md.GetName() == cfg.GetMetadata().GetName() && md.GetAttempt() == cfg.GetMetadata().GetAttempt() {
			return nil, fmt.Errorf("container %q (attempt %d) already exists in pod %s as %s: %w", md.GetName(), md.GetAttempt(), sb.ID, other.ID, errdefs.ErrAlreadyExists)
		}
	}
	img, err := s.images.Get(cfg.GetImage().GetImage())
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil, fmt.Errorf("image %q is not pulled: %w", cfg.GetImage().GetImage(), errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if len(img.ACIs) == 0 {
		return nil, fmt.Errorf("image %s has no rkt image: %w", img.ID, errdefs.ErrFailedPrecondition)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	accts, err := s.accounts.Get(img.ACIs[0])
	if err != nil {
		return nil, err
	}
	spec, err := appspec.ForContainer(cfg, appName(id), img, accts)
	if err != nil {
		return nil, err
	}
	if err := cgroups.ValidateResources(cfg.GetLinux().GetResources()); err != nil {
		return nil, err
	}
	unlockSandbox := s.sandboxes.Lock(sb.ID)
	defer unlockSandbox()
	raw, err := protojson.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	c := &store.Container{
		ContainerRecord: store.ContainerRecord{
			ID: id, SandboxID: sb.ID, App: appName(id), ACI: img.ACIs[0], ImageID: img.ID,
			ConfigJSON: raw, CreatedAt: time.Now().UnixNano(), Phase: store.PhaseCreating,
			User: spec.Identity, Capabilities: &spec.Capabilities, NoNewPrivs: spec.NoNewPrivs,
		},
		Config: cfg,
	}
	if err := s.containers.Create(c); err != nil {
		return nil, err
	}
	if lc, ok := s.containerLog(sb, c); ok {
		if err := s.logs.AddContainer(sb.ID, lc); err != nil {
			s.logs.RemoveContainer(id)
			_ = s.containers.Delete(id)
			return nil, fmt.Errorf("creating the log file %s of container %q: %w", lc.Path, cfg.GetMetadata().GetName(), err)
		}
	}
	// The request is valid: only now are missing host paths made.
	for i, dir := range spec.HostDirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			s.logs.RemoveContainer(id)
			_ = s.containers.Delete(id)
			return nil, fmt.Errorf("config.mounts: creating host path %s (%d of %d): %w", dir, i+1, len(spec.HostDirs), err)
		}
	}
	if err := s.limits.Prepare(ctx, cgroupPod(sb), c.App, c.Resources()); err != nil {
		s.logs.RemoveContainer(id)
		_ = s.containers.Delete(id)
		return nil, fmt.Errorf("container %q: setting up its cgroup: %w", cfg.GetMetadata().GetName(), err)
	}
	if err := s.rktCmd.AppAdd(ctx, sb.RktUUID, c.ACI, spec.Options); err != nil {
		_ = s.rktCmd.AppRemove(context.WithoutCancel(ctx), sb.RktUUID, c.App)
		_ = s.limits.Release(context.WithoutCancel(ctx), cgroupPod(sb), c.ID, c.App, nil)
		s.logs.RemoveContainer(id)
		_ = s.containers.Delete(id)
		return nil, fmt.Errorf("adding container %q to pod %s: %w", cfg.GetMetadata().GetName(), sb.ID, err)
	}
	if _, err := s.containers.Replace(id, func(next *store.Container) { next.Phase = store.PhaseCreated }); err != nil {
		return nil, err
	}
	if skipped := s.limits.NotEnforced(c.Resources()); len(skipped) > 0 {
		s.logger(ctx).Info("container resources recorded but not enforced on this host", "container", id, "pod", sb.ID, "settings", skipped)
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}
