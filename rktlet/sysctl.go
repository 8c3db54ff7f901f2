package rktlet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/rktlet/rktlet/errdefs"
	"golang.org/x/sys/unix"
)

// sysctlNamespace tells which of the pod's namespaces a sysctl belongs to:
// only namespaced sysctls can be set for one pod; the others would change
// the node.
func sysctlNamespace(key string) (string, bool) {
	switch {
	case strings.HasPrefix(key, "net."):
		return "net", true
	case strings.HasPrefix(key, "fs.mqueue."),
		key == "kernel.msgmax", key == "kernel.msgmnb", key == "kernel.msgmni", key == "kernel.sem",
		key == "kernel.shmall", key == "kernel.shmmax", key == "kernel.shmmni", key == "kernel.shm_rmid_forced":
		return "ipc", true
	}
	return "", false
}

// sysctlName is a sysctl's name as Kubernetes validates it: dot- or
// slash-separated segments of lowercase letters, digits, '-' and '_'.
var sysctlName = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)

// maxSysctlValue bounds a sysctl's value; the kernel takes at most a page.
const maxSysctlValue = 4096

// sysctlPath is the file of a sysctl under /proc/sys.
func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

// validateSysctls refuses sysctls that cannot be set for one pod, and
// names and values the kernel would refuse, before anything is started:
// the name must be a namespaced sysctl this kernel has, and where the
// node's own value is a list of integers the value must be one too.
func validateSysctls(sysctls map[string]string, hostNetwork bool) error {
	for k, v := range sysctls {
		if !sysctlName.MatchString(k) {
			return fmt.Errorf("config.linux.sysctls: %q is not a sysctl name: %w", k, errdefs.ErrInvalidArgument)
		}
		ns, ok := sysctlNamespace(k)
		if !ok {
			return fmt.Errorf("config.linux.sysctls: %q is not a namespaced sysctl; setting it would change the node: %w", k, errdefs.ErrInvalidArgument)
		}
		if ns == "net" && hostNetwork {
			return fmt.Errorf("config.linux.sysctls: %q cannot be set for a pod in the node's network namespace: %w", k, errdefs.ErrInvalidArgument)
		}
		if len(v) == 0 || len(v) > maxSysctlValue || strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
			return fmt.Errorf("config.linux.sysctls: the value of %q must be 1 to %d printable characters: %w", k, maxSysctlValue, errdefs.ErrInvalidArgument)
		}
		current, err := os.ReadFile(sysctlPath(k))
		if err != nil {
			return fmt.Errorf("config.linux.sysctls: %q is not a sysctl of this kernel: %w", k, errdefs.ErrInvalidArgument)
		}
		if want := len(integerFields(string(current))); want > 0 && len(integerFields(v)) != want {
			return fmt.Errorf("config.linux.sysctls: %q takes %d integer(s), not %q: %w", k, want, v, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// integerFields returns the whitespace-separated fields of s when every
// one is an integer, else nil.
func integerFields(s string) []int64 {
	var out []int64
	for _, f := range strings.Fields(s) {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil
		}
		out = append(out, n)
	}
	return out
}

// applySysctls writes sysctls inside the namespaces of the pod whose init
// process is leader, from a thread that joins them for the purpose.
func applySysctls(leader int, sysctls map[string]string) error {
	if len(sysctls) == 0 {
		return nil
	}
	byNS := map[string]map[string]string{}
	for k, v := range sysctls {
		ns, _ := sysctlNamespace(k)
		if byNS[ns] == nil {
			byNS[ns] = map[string]string{}
		}
		byNS[ns][k] = v
	}
	for ns, kv := range byNS {
		if err := inNamespace(leader, ns, func() error {
			for k, v := range kv {
				if err := os.WriteFile(sysctlPath(k), []byte(v), 0); err != nil {
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
