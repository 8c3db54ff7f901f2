package appspec

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/rktlet/rktlet/errdefs"
)

// SysctlNamespace tells which of the pod's namespaces a sysctl belongs to:
// only namespaced sysctls can be set for one pod; the others would change
// the node.
func SysctlNamespace(key string) (string, bool) {
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

// SysctlPath is the file of a sysctl under /proc/sys.
func SysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

// ValidateSysctls refuses sysctls that cannot be set for one pod, and
// names and values the kernel would refuse, before anything is started:
// the name must be a namespaced sysctl this kernel has, and where the
// node's own value is a list of integers the value must be one too.
func ValidateSysctls(sysctls map[string]string, hostNetwork bool) error {
	for k, v := range sysctls {
		if !sysctlName.MatchString(k) {
			return fmt.Errorf("config.linux.sysctls: %q is not a sysctl name: %w", k, errdefs.ErrInvalidArgument)
		}
		ns, ok := SysctlNamespace(k)
		if !ok {
			return fmt.Errorf("config.linux.sysctls: %q is not a namespaced sysctl; setting it would change the node: %w", k, errdefs.ErrInvalidArgument)
		}
		if ns == "net" && hostNetwork {
			return fmt.Errorf("config.linux.sysctls: %q cannot be set for a pod in the node's network namespace: %w", k, errdefs.ErrInvalidArgument)
		}
		if len(v) == 0 || len(v) > maxSysctlValue || strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
			return fmt.Errorf("config.linux.sysctls: the value of %q must be 1 to %d printable characters: %w", k, maxSysctlValue, errdefs.ErrInvalidArgument)
		}
		current, err := os.ReadFile(SysctlPath(k))
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
