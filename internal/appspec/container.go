package appspec

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/image"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Container is what a CRI container config becomes for rkt.
type Container struct {
	// Options are `rkt app add`'s.
	Options cli.AppAddOptions
	// HostDirs are the mounts' missing host paths, to make once the whole
	// request is accepted.
	HostDirs []string
	// Identity, Capabilities and NoNewPrivs are the app's, which commands
	// entered into it get too.
	Identity     Identity
	Capabilities []string
	NoNewPrivs   bool
}

// ForContainer translates a container config for the app named app, on
// img (its command, its user) with the accounts accts; it refuses what rkt
// cannot enforce, naming the field. Resources are the cgroup backend's to
// check.
func ForContainer(cfg *runtimeapi.ContainerConfig, app string, img image.Image, accts *image.Accounts) (Container, error) {
	opts, hostDirs, err := AppAddOptions(cfg, app, img.Entrypoint, img.Cmd)
	if err != nil {
		return Container{}, err
	}
	sc := cfg.GetLinux().GetSecurityContext()
	ident, err := ResolveIdentity(sc, img.User, accts)
	if err != nil {
		return Container{}, err
	}
	caps, err := Capabilities(sc)
	if err != nil {
		return Container{}, err
	}
	if len(caps) > 0 {
		opts.RetainCapabilities = caps
	} else {
		opts.RemoveCapabilities = DefaultCapabilities
	}
	if err := CheckAppArmor(sc); err != nil {
		return Container{}, err
	}
	if opts.Seccomp, err = Seccomp(sc); err != nil {
		return Container{}, err
	}
	opts.NoNewPrivileges = sc.GetNoNewPrivs()
	for _, list := range []struct {
		field string
		paths []string
	}{{"masked_paths", sc.GetMaskedPaths()}, {"readonly_paths", sc.GetReadonlyPaths()}} {
		for _, p := range list.paths {
			if !filepath.IsAbs(p) {
				return Container{}, fmt.Errorf("config.linux.security_context.%s: %q is not an absolute path: %w", list.field, p, errdefs.ErrInvalidArgument)
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
			return Container{}, fmt.Errorf("config.mounts[%d] is BIDIRECTIONAL: only a privileged container may propagate mounts to the host: %w", i, errdefs.ErrInvalidArgument)
		}
		if len(opts.MaskedPaths) > 0 || len(opts.ReadonlyPaths) > 0 || opts.ReadOnlyRootfs {
			return Container{}, fmt.Errorf("config.mounts[%d] is BIDIRECTIONAL: rktlet cannot combine it with masked_paths, readonly_paths or readonly_rootfs: %w", i, errdefs.ErrInvalidArgument)
		}
		opts.PodMountNamespace = true
	}
	opts.OOMScoreAdj = cfg.GetLinux().GetResources().GetOomScoreAdj()
	// stage1 gives a non-root app under a seccomp filter no_new_privs
	// whatever was asked (systemd needs it to install the filter).
	noNewPrivs := sc.GetNoNewPrivs() || opts.Seccomp != SeccompUnconfined && ident.UID != 0
	opts.User = strconv.FormatInt(ident.UID, 10)
	opts.Group = strconv.FormatInt(ident.GID, 10)
	opts.SupplementaryGIDs = ident.Groups[1:]
	return Container{Options: opts, HostDirs: hostDirs, Identity: ident, Capabilities: caps, NoNewPrivs: noNewPrivs}, nil
}
