package appspec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/rktlet/rktlet/errdefs"
)

// linuxCapabilities are Linux's capabilities by number (up to 40,
// CAP_CHECKPOINT_RESTORE, Linux 5.9).
var linuxCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// DefaultCapabilities are what a container gets unless told otherwise:
// rkt's (appc's) default set, which is also containerd's and CRI-O's.
var DefaultCapabilities = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
	"CAP_KILL", "CAP_MKNOD", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_SETUID",
	"CAP_SETGID", "CAP_SETPCAP", "CAP_SETFCAP", "CAP_SYS_CHROOT",
}

// Capabilities is the container's capability bounding set, as containerd
// computes it: everything when privileged; otherwise the default set, all
// of them when "ALL" is added, none when "ALL" is dropped, then the named
// additions and drops. Names are case-insensitive, with or without CAP_.
func Capabilities(sc *runtimeapi.LinuxContainerSecurityContext) ([]string, error) {
	if sc.GetPrivileged() {
		return slices.Clone(linuxCapabilities), nil
	}
	normalize := func(field string, names []string) ([]string, bool, error) {
		var out []string
		all := false
		for _, n := range names {
			c := strings.ToUpper(n)
			if c == "ALL" {
				all = true
				continue
			}
			if !strings.HasPrefix(c, "CAP_") {
				c = "CAP_" + c
			}
			if !slices.Contains(linuxCapabilities, c) {
				return nil, false, fmt.Errorf("config.linux.security_context.capabilities.%s: unknown capability %q: %w", field, n, errdefs.ErrInvalidArgument)
			}
			out = append(out, c)
		}
		return out, all, nil
	}
	add, addAll, err := normalize("add_capabilities", sc.GetCapabilities().GetAddCapabilities())
	if err != nil {
		return nil, err
	}
	drop, dropAll, err := normalize("drop_capabilities", sc.GetCapabilities().GetDropCapabilities())
	if err != nil {
		return nil, err
	}
	set := slices.Clone(DefaultCapabilities)
	if addAll {
		set = slices.Clone(linuxCapabilities)
	}
	if dropAll {
		set = nil
	}
	for _, c := range add {
		if !slices.Contains(set, c) {
			set = append(set, c)
		}
	}
	set = slices.DeleteFunc(set, func(c string) bool { return slices.Contains(drop, c) })
	if set == nil {
		set = []string{}
	}
	return set, nil
}

// CapabilityNumbers spells a set as rkt enter's RKT_ENTER_CAPS wants it
// (rkt patch 0009): capability numbers, comma-separated.
func CapabilityNumbers(set []string) string {
	nums := make([]string, 0, len(set))
	for _, c := range set {
		if i := slices.Index(linuxCapabilities, c); i >= 0 {
			nums = append(nums, strconv.Itoa(i))
		}
	}
	return strings.Join(nums, ",")
}
