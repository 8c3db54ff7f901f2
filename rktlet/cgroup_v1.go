package rktlet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

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
	var out []v1Hierarchy
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - type source superoptions
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 6 || len(fields) < sep+4 || fields[sep+1] != "cgroup" {
			continue
		}
		var ctrls []string
		for _, o := range strings.Split(fields[sep+3], ",") {
			switch {
			case o == "rw" || o == "ro" || strings.HasPrefix(o, "name=") || strings.Contains(o, "="):
			case o == "relatime" || o == "noexec" || o == "nosuid" || o == "nodev" || o == "clone_children" || o == "noprefix" || o == "xattr":
			default:
				ctrls = append(ctrls, o)
			}
		}
		if len(ctrls) == 0 {
			continue
		}
		slices.Sort(ctrls)
		out = append([]v1Hierarchy{{controllers: ctrls, mountpoint: unescapeMountinfo(fields[4]), root: unescapeMountinfo(fields[3])}}, out...)
	}
	return out, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", err
	}
	defer f.Close()
	want := strings.Join(h.controllers, ",")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls := strings.Split(parts[1], ",")
		slices.Sort(ctrls)
		if strings.Join(ctrls, ",") != want {
			continue
		}
		rel := parts[2]
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
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("process %d is in no %s cgroup", pid, want)
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
