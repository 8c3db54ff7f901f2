package cgroups

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mode is how the host's cgroup hierarchies are set up.
type Mode string

const (
	// Unified: cgroup2 only, with the controllers on it (Debian 12, Fedora
	// CoreOS, Flatcar, Ubuntu 22.04, RHEL 9): limits go through the pod's
	// systemd (V2).
	Unified Mode = "unified"
	// Hybrid: systemd tracks processes on cgroup2, the controllers are
	// bound to v1 hierarchies: rktlet writes limits into directories of its
	// own there (V1).
	Hybrid Mode = "hybrid"
	// Legacy: cgroup v1 only. rktlet needs cgroup2 to find apps' processes.
	Legacy Mode = "legacy"
)

// DetectMode tells the host's cgroup mode from what is mounted here.
func DetectMode() Mode {
	root, err := Root()
	if err != nil {
		return Legacy
	}
	if root == "/sys/fs/cgroup" && hasMemoryController(root) {
		return Unified
	}
	return Hybrid
}

func hasMemoryController(root string) bool {
	b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return false
	}
	for _, c := range strings.Fields(string(b)) {
		if c == "memory" {
			return true
		}
	}
	return false
}

// isCgroup2 tells whether p is the mountpoint of a cgroup2 hierarchy.
func isCgroup2(p string) bool {
	var st unix.Statfs_t
	return unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}
