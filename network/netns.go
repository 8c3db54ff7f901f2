package network

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetNSDir is where named network namespaces live, as `ip netns` keeps them.
const NetNSDir = "/run/netns"

// NewNetNS creates a network namespace bound at NetNSDir/name and returns
// its path. The calling goroutine's thread is moved into the new namespace
// by the library and back again before it is released.
func NewNetNS(name string) (string, error) {
	path := filepath.Join(NetNSDir, name)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return "", fmt.Errorf("reading this thread's network namespace: %w", err)
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if err != nil {
		// NewNamed may have moved the thread before failing.
		if setErr := netns.Set(orig); setErr != nil {
			// Leave the thread locked: it dies with the goroutine instead of
			// running other goroutines in the wrong namespace.
			return "", fmt.Errorf("creating network namespace %s: %v (and restoring the thread: %v)", name, err, setErr)
		}
		runtime.UnlockOSThread()
		return "", fmt.Errorf("creating network namespace %s: %w", name, err)
	}
	ns.Close()
	if err := netns.Set(orig); err != nil {
		return "", fmt.Errorf("returning from network namespace %s: %w", name, err)
	}
	runtime.UnlockOSThread()
	return path, nil
}

// RemoveNetNS unbinds and removes a namespace created by NewNetNS; one that
// is already gone is fine.
func RemoveNetNS(path string) error {
	if path == "" {
		return nil
	}
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting network namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing network namespace %s: %w", path, err)
	}
	return nil
}

// NetNSExists tells whether path is a bound network namespace.
func NetNSExists(path string) bool {
	if path == "" {
		return false
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}
