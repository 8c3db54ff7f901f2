package cgroups

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	cgroupsutil "github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// On a hybrid host (cgroup v1 controllers, systemd tracking processes on
// the unified hierarchy) the memory and cpu controllers are bound to v1
// hierarchies, and the pod's systemd, inside nspawn, sees them read-only or
// not at all: the MemoryLimit= or CPUQuota= rkt writes into an app's unit
// limit nothing. rktlet therefore gives each container with limits its own
// directory in those hierarchies, below the pod's, and writes the limits
// there itself.

// v1Hierarchy is a mounted cgroup v1 hierarchy.
type v1Hierarchy struct {
	// controllers bound to it, sorted ("cpu", "cpuacct").
	controllers []string
	mountpoint  string
	// root is the hierarchy's path mounted at mountpoint.
	root string
}

// v1Hierarchies finds the hierarchies of the given controllers reachable
// in rktlet's mount namespace (controller → hierarchy; missing ones left out).
func v1Hierarchies(controllers ...string) (map[string]*v1Hierarchy, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := parseCgroupV1Mounts(f)
	if err != nil {
		return nil, err
	}
	found := map[string]*v1Hierarchy{}
	for i := range all {
		h := &all[i]
		if !h.reachable() {
			continue
		}
		for _, c := range controllers {
			if found[c] == nil && slices.Contains(h.controllers, c) {
				found[c] = h
			}
		}
	}
	return found, nil
}

// parseCgroupV1Mounts lists the cgroup v1 mounts of a mountinfo file, the
// last mount of a mountpoint first (it hides the earlier ones).
func parseCgroupV1Mounts(r io.Reader) ([]v1Hierarchy, error) {
	mounts, err := mountinfo.GetMountsFromReader(r, mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, err
	}
	var out []v1Hierarchy
	for _, m := range mounts {
		// The super options name the controllers: "rw,cpuacct,cpu".
		var ctrls []string
		for _, o := range strings.Split(m.VFSOptions, ",") {
			switch {
			case o == "rw" || o == "ro" || strings.Contains(o, "="):
			case o == "relatime" || o == "noexec" || o == "nosuid" || o == "nodev" || o == "clone_children" || o == "noprefix" || o == "xattr":
			default:
				ctrls = append(ctrls, o)
			}
		}
		if len(ctrls) == 0 {
			continue
		}
		slices.Sort(ctrls)
		out = append([]v1Hierarchy{{controllers: ctrls, mountpoint: m.Mountpoint, root: m.Root}}, out...)
	}
	return out, nil
}

// reachable tells whether the mount shows a hierarchy inside rktlet's
// cgroup namespace ("/.." roots do not) and is not hidden by a later mount
// over it or its parent (the test bed mounts cgroup2 over /sys/fs/cgroup).
func (h *v1Hierarchy) reachable() bool {
	if strings.Contains(h.root, "..") {
		return false
	}
	var st unix.Statfs_t
	if err := unix.Statfs(h.mountpoint, &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
		return false
	}
	_, err := os.Stat(filepath.Join(h.mountpoint, "cgroup.procs"))
	return err == nil
}

func (h *v1Hierarchy) String() string { return strings.Join(h.controllers, ",") }

// dirOf is the directory of the cgroup a process is in.
func (h *v1Hierarchy) dirOf(pid int) (string, error) {
	paths, err := cgroupsutil.ParseCgroupFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	want := h.String()
	rel, ok := paths[h.controllers[0]]
	if !ok {
		return "", fmt.Errorf("process %d is in no %s cgroup", pid, want)
	}
	if h.root != "/" {
		if rel != h.root && !strings.HasPrefix(rel, h.root+"/") {
			return "", fmt.Errorf("process %d's %s cgroup %s is outside the mount of %s", pid, want, rel, h.root)
		}
		rel = strings.TrimPrefix(rel, h.root)
	}
	if strings.Contains(rel, "..") {
		return "", fmt.Errorf("process %d's %s cgroup is outside rktlet's cgroup namespace", pid, want)
	}
	return filepath.Join(h.mountpoint, rel), nil
}

// moveProcess puts a process (all its threads) into a cgroup v1 directory.
func moveProcess(dir string, pid int) error {
	err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // gone meanwhile
	}
	if err != nil {
		return fmt.Errorf("moving process %d to cgroup %s: %w", pid, dir, err)
	}
	return nil
}

// removeCgroupDir removes a cgroup directory and any left below it; a
// cgroup still holding processes cannot be removed (EBUSY).
func removeCgroupDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroupDir(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing cgroup %s: %w", dir, err)
	}
	return nil
}
