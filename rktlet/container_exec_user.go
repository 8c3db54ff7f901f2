package rktlet

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/internal/appspec"
	"github.com/rktlet/rktlet/internal/store"
)

// enterUser is how commands entered into the container run: as its user,
// with its capabilities, in its working directory.
func enterUser(c *store.Container) cli.EnterUser {
	u := cli.EnterUser{UID: c.User.UID, Groups: c.User.Groups, WorkingDir: c.Config.GetWorkingDir(), NoNewPrivileges: c.NoNewPrivs}
	if c.Capabilities != nil {
		nums := appspec.CapabilityNumbers(*c.Capabilities)
		u.Capabilities = &nums
	}
	return u
}

// execWaitForApp bounds how long an exec waits for the container's process
// to be in its own root.
const execWaitForApp = 5 * time.Second

// execUser is who and how a command entered into the container runs: the
// container's identity, capabilities, no_new_privs, seccomp filter and
// mount namespace.
func (s *Service) execUser(ctx context.Context, c *store.Container, sb *store.Sandbox) (cli.EnterUser, error) {
	u := enterUser(c)
	filter, err := s.appSeccompFilter(c, sb)
	if err != nil {
		return cli.EnterUser{}, fmt.Errorf("the seccomp filter of container %s: %w", c.ID, err)
	}
	u.Seccomp = filter
	// The app unit's mount namespace holds its masked and read-only
	// paths. A container whose process is still being set up by the pod's
	// systemd (StartContainer of another caller in flight) is waited for
	// briefly; one with no process left has nothing to enter.
	pid, err := s.runningAppPID(ctx, c, sb, execWaitForApp)
	if err != nil {
		return cli.EnterUser{}, fmt.Errorf("finding a process of container %s: %w", c.ID, err)
	}
	u.MountNSPID = pid
	// The command joins the app's cgroups: it runs under the app unit's
	// device policy (DevicePolicy=closed, stage1) and the container's
	// limits, and is killed with the app.
	if dir, err := s.appCgroups.Path(ctx, sb.Unit, c.App); err == nil {
		u.CgroupProcs = append(u.CgroupProcs, filepath.Join(dir, "cgroup.procs"))
	}
	for _, name := range []string{"memory", "cpu"} {
		if dir := c.CgroupsV1[name]; dir != "" {
			u.CgroupProcs = append(u.CgroupProcs, filepath.Join(dir, "cgroup.procs"))
		}
	}
	return u, nil
}
