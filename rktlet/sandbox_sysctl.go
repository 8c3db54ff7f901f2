package rktlet

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/appspec"
	"golang.org/x/sys/unix"
)

// applySysctls writes sysctls inside the namespaces of the pod whose init
// process is leader, from a thread that joins them for the purpose.
func applySysctls(leader int, sysctls map[string]string) error {
	if len(sysctls) == 0 {
		return nil
	}
	byNS := map[string]map[string]string{}
	for k, v := range sysctls {
		ns, _ := appspec.SysctlNamespace(k)
		if byNS[ns] == nil {
			byNS[ns] = map[string]string{}
		}
		byNS[ns][k] = v
	}
	for ns, kv := range byNS {
		if err := inNamespace(leader, ns, func() error {
			for k, v := range kv {
				if err := os.WriteFile(appspec.SysctlPath(k), []byte(v), 0); err != nil {
					if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ERANGE) || errors.Is(err, unix.EOVERFLOW) || errors.Is(err, os.ErrNotExist) {
						// The kernel's own range check.
						return fmt.Errorf("config.linux.sysctls: the kernel refused %s=%s: %v: %w", k, v, err, errdefs.ErrInvalidArgument)
					}
					return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// inNamespace runs fn on a locked thread that joined the namespace of kind
// ns ("ipc", "net") of process pid, and returns the thread to its own.
func inNamespace(pid int, ns string, fn func() error) error {
	flag := map[string]int{"ipc": unix.CLONE_NEWIPC, "net": unix.CLONE_NEWNET}[ns]
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
	if err != nil {
		return err
	}
	defer target.Close()
	own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/%s", unix.Gettid(), ns))
	if err != nil {
		return err
	}
	defer own.Close()
	runtime.LockOSThread()
	if err := unix.Setns(int(target.Fd()), flag); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("joining the pod's %s namespace: %w", ns, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(own.Fd()), flag); err != nil {
		// Leave the thread locked: it ends with this goroutine rather than
		// run others in the pod's namespace.
		return fmt.Errorf("leaving the pod's %s namespace: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}
