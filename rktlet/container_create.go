package rktlet

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/errdefs"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CreateContainer adds the container to its pod as an rkt app.
func (s *Service) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	cfg := req.GetConfig()
	if cfg == nil || cfg.GetMetadata() == nil {
		return nil, fmt.Errorf("config.metadata is missing: %w", errdefs.ErrInvalidArgument)
	}
	if err := checkNoNUL("config", cfg); err != nil {
		return nil, err
	}
	if cfg.GetMetadata().GetName() == "" {
		return nil, fmt.Errorf("config.metadata.name is empty: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.GetImage().GetImage() == "" {
		return nil, fmt.Errorf("config.image.image is empty: %w", errdefs.ErrInvalidArgument)
	}
	sb, err := s.sandboxes.get(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	if err := validateLogPath(sb.config, cfg); err != nil {
		return nil, err
	}
	if sb.state != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, fmt.Errorf("pod sandbox %s is not ready: %w", sb.ID, errdefs.ErrFailedPrecondition)
	}
	// The name and attempt are reserved in the pod before any work, so
	// that concurrent identical calls make one container.
	unlockName := s.containers.lockName(fmt.Sprintf("%s/%s/%d", sb.ID, cfg.GetMetadata().GetName(), cfg.GetMetadata().GetAttempt()))
	defer unlockName()
	for _, other := range s.containers.inSandbox(sb.ID) {
		md := other.config.GetMetadata()
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
	opts, hostDirs, err := appAddOptions(cfg, appName(id), img.Entrypoint, img.Cmd)
	if err != nil {
		return nil, err
	}
	accts, err := s.accounts.get(img.ACIs[0])
	if err != nil {
		return nil, err
	}
	ident, err := resolveIdentity(cfg.GetLinux().GetSecurityContext(), img.User, accts)
	if err != nil {
		return nil, err
	}
	caps, err := capabilitySet(cfg.GetLinux().GetSecurityContext())
	if err != nil {
		return nil, err
	}
	if len(caps) > 0 {
		opts.RetainCapabilities = caps
	} else {
		opts.RemoveCapabilities = defaultCapabilities
	}
	sc := cfg.GetLinux().GetSecurityContext()
	if err := checkAppArmor(sc); err != nil {
		return nil, err
	}
	if opts.Seccomp, err = seccompOption(sc); err != nil {
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
	if err := validateResources(cfg.GetLinux().GetResources()); err != nil {
		return nil, err
	}
	opts.OOMScoreAdj = cfg.GetLinux().GetResources().GetOomScoreAdj()
	// stage1 gives a non-root app under a seccomp filter no_new_privs
	// whatever was asked (systemd needs it to install the filter).
	noNewPrivs := sc.GetNoNewPrivs() || opts.Seccomp != seccompUnconfined && ident.UID != 0
	opts.User = strconv.FormatInt(ident.UID, 10)
	opts.Group = strconv.FormatInt(ident.GID, 10)
	opts.SupplementaryGIDs = ident.Groups[1:]

	unlockSandbox := s.sandboxes.lock(sb.ID)
	defer unlockSandbox()
	raw, err := protojson.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	c := &container{
		containerRecord: containerRecord{
			ID: id, SandboxID: sb.ID, App: appName(id), ACI: img.ACIs[0], ImageID: img.ID,
			Config: raw, CreatedAt: time.Now().UnixNano(), Phase: phaseCreating,
			User: ident, Capabilities: &caps, NoNewPrivs: noNewPrivs,
		},
		config: cfg,
	}
	if err := s.containers.create(c); err != nil {
		return nil, err
	}
	if lc, ok := s.containerLog(sb, c); ok {
		if err := s.logs.AddContainer(sb.ID, lc); err != nil {
			s.logs.RemoveContainer(id)
			_ = s.containers.delete(id)
			return nil, fmt.Errorf("creating the log file %s of container %q: %w", lc.Path, cfg.GetMetadata().GetName(), err)
		}
	}
	// The request is valid: only now are missing host paths made.
	for i, dir := range hostDirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			s.logs.RemoveContainer(id)
			_ = s.containers.delete(id)
			return nil, fmt.Errorf("config.mounts: creating host path %s (%d of %d): %w", dir, i+1, len(hostDirs), err)
		}
	}
	if err := s.rktCmd.AppAdd(ctx, sb.RktUUID, c.ACI, opts); err != nil {
		_ = s.rktCmd.AppRemove(context.WithoutCancel(ctx), sb.RktUUID, c.App)
		s.logs.RemoveContainer(id)
		_ = s.containers.delete(id)
		return nil, fmt.Errorf("adding container %q to pod %s: %w", cfg.GetMetadata().GetName(), sb.ID, err)
	}
	if _, err := s.containers.replace(id, func(next *container) { next.Phase = phaseCreated }); err != nil {
		return nil, err
	}
	if skipped := s.limits.notEnforced(c.resources()); len(skipped) > 0 {
		s.log.Info("container resources recorded but not enforced on this host", "container", id, "pod", sb.ID, "settings", skipped)
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

// mountPropagation maps the CRI's propagation to stage1's (patch 0013).
var mountPropagation = map[runtimeapi.MountPropagation]string{
	runtimeapi.MountPropagation_PROPAGATION_PRIVATE:           "rprivate",
	runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER: "rslave",
	runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:     "rshared",
}

// recursiveReadOnlySupported tells whether the kernel can make a mount
// tree read-only (mount_setattr, Linux 5.12), which stage1 uses for it.
var recursiveReadOnlySupported = sync.OnceValue(func() bool {
	err := unix.MountSetattr(-1, "", 0, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
})

// appAddOptions turns a container config into the flags of `rkt app add` for
// the app named app, and lists the mounts' host paths that do not exist yet,
// for the caller to make once the whole request is checked. Command replaces
// the image's entrypoint and args its cmd, as Docker and the kubelet's other
// runtimes do.
func appAddOptions(cfg *runtimeapi.ContainerConfig, app string, entrypoint, cmd []string) (o cli.AppAddOptions, hostDirs []string, err error) {
	o = cli.AppAddOptions{Name: app}
	switch {
	case len(cfg.GetCommand()) > 0:
		o.Exec = append(append([]string{}, cfg.GetCommand()...), cfg.GetArgs()...)
	case len(cfg.GetArgs()) > 0:
		o.Exec = append(append([]string{}, entrypoint...), cfg.GetArgs()...)
	}
	for _, kv := range cfg.GetEnvs() {
		if kv.GetKey() == "" {
			return o, nil, fmt.Errorf("config.envs: an entry has an empty key: %w", errdefs.ErrInvalidArgument)
		}
		if strings.Contains(kv.GetKey(), "=") {
			return o, nil, fmt.Errorf("config.envs: key %q holds '=': %w", kv.GetKey(), errdefs.ErrInvalidArgument)
		}
		o.Env = append(o.Env, kv.GetKey()+"="+string(kv.GetValue()))
	}
	o.WorkingDir = cfg.GetWorkingDir()
	// Output always goes through stage1's iottymux, which sends each line
	// to the pod's journal with its stream named, and to attached clients.
	switch {
	case cfg.GetTty():
		o.Stdout, o.Stderr = "tty", "tty"
		o.Stdin = "null"
		if cfg.GetStdin() {
			o.Stdin = "tty"
		}
	default:
		o.Stdout, o.Stderr = "stream", "stream"
		o.Stdin = "null"
		if cfg.GetStdin() {
			o.Stdin = "stream"
		}
	}
	sc := cfg.GetLinux().GetSecurityContext()
	o.ReadOnlyRootfs = sc.GetReadonlyRootfs()
	for i, m := range cfg.GetMounts() {
		if m.GetContainerPath() == "" || !filepath.IsAbs(m.GetContainerPath()) {
			return o, nil, fmt.Errorf("config.mounts[%d].container_path %q is not an absolute path: %w", i, m.GetContainerPath(), errdefs.ErrInvalidArgument)
		}
		if m.GetRecursiveReadOnly() {
			switch {
			case !recursiveReadOnlySupported():
				return o, nil, fmt.Errorf("config.mounts[%d].recursive_read_only: this kernel has no mount_setattr (Linux 5.12) to make submounts read-only: %w", i, errdefs.ErrInvalidArgument)
			case !m.GetReadonly():
				return o, nil, fmt.Errorf("config.mounts[%d].recursive_read_only needs readonly: %w", i, errdefs.ErrInvalidArgument)
			case m.GetPropagation() != runtimeapi.MountPropagation_PROPAGATION_PRIVATE:
				return o, nil, fmt.Errorf("config.mounts[%d].recursive_read_only needs propagation PRIVATE, not %s (a mount propagated in later would be writable): %w", i, m.GetPropagation(), errdefs.ErrInvalidArgument)
			}
		}
		propagation, ok := mountPropagation[m.GetPropagation()]
		if !ok {
			return o, nil, fmt.Errorf("config.mounts[%d].propagation %v is not a known propagation: %w", i, m.GetPropagation(), errdefs.ErrInvalidArgument)
		}
		host := m.GetHostPath()
		if host == "" || !filepath.IsAbs(host) {
			return o, nil, fmt.Errorf("config.mounts[%d].host_path %q is not an absolute path: %w", i, host, errdefs.ErrInvalidArgument)
		}
		// As the kubelet's other runtimes do, a missing host path becomes a
		// directory (made by the caller); a symlink is followed.
		if _, err := os.Stat(host); errors.Is(err, os.ErrNotExist) {
			host = resolveMissing(host)
			hostDirs = append(hostDirs, host)
		} else if resolved, err := filepath.EvalSymlinks(host); err == nil {
			host = resolved
		}
		// Bound recursively, as the kubelet's other runtimes bind host
		// paths: submounts of the host path show in the container.
		name := fmt.Sprintf("vol%d", i)
		o.Mounts = append(o.Mounts, fmt.Sprintf("name=%s,kind=host,source=%s,target=%s,readOnly=%t,recursive=true",
			name, mntVolumeValue(host), mntVolumeValue(m.GetContainerPath()), m.GetReadonly()))
		if o.VolumeOptions == nil {
			o.VolumeOptions = map[string]cli.VolumeOptions{}
		}
		o.VolumeOptions[name] = cli.VolumeOptions{Propagation: propagation, RecursiveReadOnly: m.GetRecursiveReadOnly()}
	}
	// Each device is a host volume: stage1 binds the device node and
	// allows it in the app unit's device policy (DeviceAllow=, "r" for a
	// read-only volume, else "rw"; mknod is never allowed) through a link
	// in the pod's /dev/.rkt named after the volume, hence volume names
	// unique in the pod.
	for i, d := range cfg.GetDevices() {
		dev, err := checkDevice(i, d)
		if err != nil {
			return o, nil, err
		}
		name := fmt.Sprintf("%s-dev%d", app, i)
		o.Mounts = append(o.Mounts, fmt.Sprintf("name=%s,kind=host,source=%s,target=%s,readOnly=%t,recursive=false",
			name, mntVolumeValue(dev.path), mntVolumeValue(d.GetContainerPath()), !strings.Contains(dev.perms, "w")))
		if o.VolumeOptions == nil {
			o.VolumeOptions = map[string]cli.VolumeOptions{}
		}
		o.VolumeOptions[name] = cli.VolumeOptions{Propagation: "rprivate"}
	}
	return o, hostDirs, nil
}

// resolveMissing resolves the symlinks of a path that does not exist yet:
// those of its nearest existing parent, the rest appended.
func resolveMissing(path string) string {
	rest := ""
	for dir := path; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if resolved, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(resolved, rest)
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
	return path
}

// mntVolumeValue escapes a value of rkt's --mnt-volume flag, which rkt
// reads as a URL query with "," for "&": a path holding ",", "&", ";", "%"
// or "+" would otherwise be cut or changed ("a+b" became "a b").
func mntVolumeValue(v string) string { return url.QueryEscape(v) }

// hostDevice is a CRI device checked: the host's node and its permissions.
type hostDevice struct {
	path  string // symlinks resolved
	perms string // of "rwm"
}

func checkDevice(i int, d *runtimeapi.Device) (hostDevice, error) {
	field := fmt.Sprintf("config.devices[%d]", i)
	if !filepath.IsAbs(d.GetContainerPath()) {
		return hostDevice{}, fmt.Errorf("%s.container_path %q is not an absolute path: %w", field, d.GetContainerPath(), errdefs.ErrInvalidArgument)
	}
	if !filepath.IsAbs(d.GetHostPath()) {
		return hostDevice{}, fmt.Errorf("%s.host_path %q is not an absolute path: %w", field, d.GetHostPath(), errdefs.ErrInvalidArgument)
	}
	dev := hostDevice{perms: d.GetPermissions()}
	if dev.perms == "" {
		dev.perms = "rwm"
	}
	if strings.Trim(dev.perms, "rwm") != "" {
		return hostDevice{}, fmt.Errorf("%s.permissions %q: only r, w and m: %w", field, d.GetPermissions(), errdefs.ErrInvalidArgument)
	}
	var err error
	dev.path, err = filepath.EvalSymlinks(d.GetHostPath())
	if errors.Is(err, os.ErrNotExist) {
		return hostDevice{}, fmt.Errorf("%s.host_path %s does not exist: %w", field, d.GetHostPath(), errdefs.ErrNotFound)
	}
	if err != nil {
		return hostDevice{}, fmt.Errorf("%s.host_path %s: %w", field, d.GetHostPath(), err)
	}
	st, err := os.Stat(dev.path)
	if err != nil {
		return hostDevice{}, fmt.Errorf("%s.host_path %s: %w", field, d.GetHostPath(), err)
	}
	if st.Mode()&os.ModeDevice == 0 {
		return hostDevice{}, fmt.Errorf("%s.host_path %s is not a device node: %w", field, d.GetHostPath(), errdefs.ErrInvalidArgument)
	}
	return dev, nil
}
