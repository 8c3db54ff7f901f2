package appspec

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/errdefs"
)

// mountPropagation maps the CRI's propagation to stage1's (patch 0013).
var mountPropagation = map[runtimeapi.MountPropagation]string{
	runtimeapi.MountPropagation_PROPAGATION_PRIVATE:           "rprivate",
	runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER: "rslave",
	runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:     "rshared",
}

// RecursiveReadOnlySupported tells whether the kernel can make a mount
// tree read-only (mount_setattr, Linux 5.12), which stage1 uses for it.
var RecursiveReadOnlySupported = sync.OnceValue(func() bool {
	err := unix.MountSetattr(-1, "", 0, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
})

// AppAddOptions turns a container config into the flags of `rkt app add` for
// the app named app, and lists the mounts' host paths that do not exist yet,
// for the caller to make once the whole request is checked. Command replaces
// the image's entrypoint and args its cmd, as Docker and the kubelet's other
// runtimes do.
func AppAddOptions(cfg *runtimeapi.ContainerConfig, app string, entrypoint, cmd []string) (o cli.AppAddOptions, hostDirs []string, err error) {
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
		// An image volume (the kubelet's ImageVolume feature) would need the
		// image mounted on the host; rkt has no way to.
		if m.GetImage().GetImage() != "" {
			return o, nil, fmt.Errorf("config.mounts[%d].image %q: image volumes are not supported by rktlet: %w", i, m.GetImage().GetImage(), errdefs.ErrInvalidArgument)
		}
		if m.GetContainerPath() == "" || !filepath.IsAbs(m.GetContainerPath()) {
			return o, nil, fmt.Errorf("config.mounts[%d].container_path %q is not an absolute path: %w", i, m.GetContainerPath(), errdefs.ErrInvalidArgument)
		}
		if m.GetRecursiveReadOnly() {
			switch {
			case !RecursiveReadOnlySupported():
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
			name, MntVolumeValue(host), MntVolumeValue(m.GetContainerPath()), m.GetReadonly()))
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
			name, MntVolumeValue(dev.path), MntVolumeValue(d.GetContainerPath()), !strings.Contains(dev.perms, "w")))
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

// MntVolumeValue escapes a value of rkt's --mnt-volume flag, which rkt
// reads as a URL query with "," for "&": a path holding ",", "&", ";", "%"
// or "+" would otherwise be cut or changed ("a+b" became "a b").
func MntVolumeValue(v string) string { return url.QueryEscape(v) }

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
