package rktlet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	opts, hostDirs, err := appspec.AppAddOptions(cfg, appName(id), img.Entrypoint, img.Cmd)
	if err != nil {
		return nil, err
	}
	accts, err := s.accounts.Get(img.ACIs[0])
	if err != nil {
		return nil, err
	}
	ident, err := appspec.ResolveIdentity(cfg.GetLinux().GetSecurityContext(), img.User, accts)
	if err != nil {
		return nil, err
	}
	caps, err := appspec.Capabilities(cfg.GetLinux().GetSecurityContext())
	if err != nil {
		return nil, err
	}
	if len(caps) > 0 {
		opts.RetainCapabilities = caps
	} else {
		opts.RemoveCapabilities = appspec.DefaultCapabilities
	}
	sc := cfg.GetLinux().GetSecurityContext()
	if err := appspec.CheckAppArmor(sc); err != nil {
		return nil, err
	}
	if opts.Seccomp, err = appspec.Seccomp(sc); err != nil {
		return nil, err
	}
	opts.NoNewPrivileges = sc.GetNoNewPrivs()
	for _, list := range []struct {
		field string
		paths []string
	}{{"masked_paths", sc.GetMaskedPaths()}, {"readonly_paths", sc.GetReadonlyPaths()}} {
		for _, p := range list.paths {
			if !filepath.IsAbs(p) {
				return nil, fmt.Errorf("config.linux.security_context.%s: %q is not an absolute path: %w", list.field, p, errdefs.ErrInvalidArgument)
			}
		}
	}
	opts.MaskedPaths, opts.ReadonlyPaths = sc.GetMaskedPaths(), sc.GetReadonlyPaths()
	for i, m := range cfg.GetMounts() {
		if m.GetPropagation() != runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL {
			continue
		}
		// What the app mounts there reaches the host only from the pod's
		// mount namespace: systemd gives an app unit a namespace of its
		// own, a slave of the pod's, for its masked and read-only paths
		// and stage1's protection of kernel tunables. As the kubelet,
		// rktlet allows it only in privileged containers, which have
		// none of them (a read-only rootfs would need that namespace).
		if !sc.GetPrivileged() {
			return nil, fmt.Errorf("config.mounts[%d] is BIDIRECTIONAL: only a privileged container may propagate mounts to the host: %w", i, errdefs.ErrInvalidArgument)
		}
		if len(opts.MaskedPaths) > 0 || len(opts.ReadonlyPaths) > 0 || opts.ReadOnlyRootfs {
			return nil, fmt.Errorf("config.mounts[%d] is BIDIRECTIONAL: rktlet cannot combine it with masked_paths, readonly_paths or readonly_rootfs: %w", i, errdefs.ErrInvalidArgument)
		}
		opts.PodMountNamespace = true
	}
	if err := cgroups.ValidateResources(cfg.GetLinux().GetResources()); err != nil {
		return nil, err
	}
	opts.OOMScoreAdj = cfg.GetLinux().GetResources().GetOomScoreAdj()
	// stage1 gives a non-root app under a seccomp filter no_new_privs
	// whatever was asked (systemd needs it to install the filter).
	noNewPrivs := sc.GetNoNewPrivs() || opts.Seccomp != appspec.SeccompUnconfined && ident.UID != 0
	opts.User = strconv.FormatInt(ident.UID, 10)
	opts.Group = strconv.FormatInt(ident.GID, 10)
	opts.SupplementaryGIDs = ident.Groups[1:]

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
			User: ident, Capabilities: &caps, NoNewPrivs: noNewPrivs,
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
	for i, dir := range hostDirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			s.logs.RemoveContainer(id)
			_ = s.containers.Delete(id)
			return nil, fmt.Errorf("config.mounts: creating host path %s (%d of %d): %w", dir, i+1, len(hostDirs), err)
		}
	}
	if err := s.limits.Prepare(ctx, cgroupPod(sb), c.App, c.Resources()); err != nil {
		s.logs.RemoveContainer(id)
		_ = s.containers.Delete(id)
		return nil, fmt.Errorf("container %q: setting up its cgroup: %w", cfg.GetMetadata().GetName(), err)
	}
	if err := s.rktCmd.AppAdd(ctx, sb.RktUUID, c.ACI, opts); err != nil {
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
