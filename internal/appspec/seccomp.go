package appspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/regularfile"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// rkt's --seccomp values (stage1 writes them as the app unit's
// SystemCallFilter= and SystemCallErrorNumber=). Without the flag stage1
// applies rkt's own default whitelist, which is neither what the kubelet's
// default (Unconfined) nor its RuntimeDefault means.
const (
	SeccompUnconfined = "mode=retain,@appc.io/all"
	// The profile containerd and CRI-O use as RuntimeDefault is Docker's
	// default: a whitelist, EPERM for the rest. rkt ships its list.
	seccompRuntimeDefault = "mode=retain,errno=EPERM,@docker/default-whitelist"
)

// Seccomp is the app's --seccomp from the container's security
// context: unconfined when privileged, as the other runtimes do.
func Seccomp(sc *runtimeapi.LinuxContainerSecurityContext) (string, error) {
	if sc.GetPrivileged() {
		return SeccompUnconfined, nil
	}
	profile := sc.GetSeccomp()
	if profile == nil {
		// The field older kubelets set.
		switch path := sc.GetSeccompProfilePath(); {
		case path == "" || path == "unconfined":
			return SeccompUnconfined, nil
		case path == "runtime/default" || path == "docker/default":
			return seccompRuntimeDefault, nil
		case strings.HasPrefix(path, "localhost/"):
			profile = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: strings.TrimPrefix(path, "localhost/")}
		default:
			return "", fmt.Errorf("config.linux.security_context.seccomp_profile_path %q is none of unconfined, runtime/default and localhost/<path>: %w", path, errdefs.ErrInvalidArgument)
		}
	}
	switch profile.GetProfileType() {
	case runtimeapi.SecurityProfile_Unconfined:
		return SeccompUnconfined, nil
	case runtimeapi.SecurityProfile_RuntimeDefault:
		return seccompRuntimeDefault, nil
	case runtimeapi.SecurityProfile_Localhost:
		return localhostSeccomp(profile.GetLocalhostRef())
	}
	return "", fmt.Errorf("config.linux.security_context.seccomp: profile type %v: %w", profile.GetProfileType(), errdefs.ErrInvalidArgument)
}

// ociSeccomp is the part of an OCI (Docker) seccomp profile rktlet reads.
type ociSeccomp struct {
	DefaultAction   string `json:"defaultAction"`
	DefaultErrnoRet *uint  `json:"defaultErrnoRet"`
	Syscalls        []struct {
		Names    []string          `json:"names"`
		Name     string            `json:"name"`
		Action   string            `json:"action"`
		ErrnoRet *uint             `json:"errnoRet"`
		Args     []json.RawMessage `json:"args"`
	} `json:"syscalls"`
}

// maxSeccompProfile bounds a Localhost profile's size: Docker's default
// profile, the largest in common use, is about 20 KiB.
const maxSeccompProfile = 1 << 20

// localhostSeccomp translates a profile file into rkt's seccomp set. rkt
// (systemd's SystemCallFilter=) filters by syscall name with one action for
// the listed set, so a profile is accepted when it says either "allow all
// but these" or "deny all but these" without looking at arguments; anything
// else is refused rather than enforced differently than it reads.
func localhostSeccomp(path string) (string, error) {
	field := "config.linux.security_context.seccomp.localhost_ref"
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("%s %q is not an absolute path: %w", field, path, errdefs.ErrInvalidArgument)
	}
	b, err := regularfile.Read(path, maxSeccompProfile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%s: seccomp profile %s does not exist: %w", field, path, errdefs.ErrNotFound)
	case errors.Is(err, regularfile.ErrNotRegular), errors.Is(err, regularfile.ErrTooLarge):
		return "", fmt.Errorf("%s: seccomp profile: %v: %w", field, err, errdefs.ErrInvalidArgument)
	case err != nil:
		return "", fmt.Errorf("%s: %w", field, err)
	}
	var p ociSeccomp
	if err := json.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("%s: seccomp profile %s: %v: %w", field, path, err, errdefs.ErrInvalidArgument)
	}
	refuse := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%s: seccomp profile %s: %s, which rkt's seccomp (systemd's SystemCallFilter=, by name, one action for all) cannot enforce: %w",
			field, path, fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
	}
	allowAll := isAllowAction(p.DefaultAction)
	var names []string
	denyErrno, denySeen := "", false
	for _, rule := range p.Syscalls {
		ruleNames := rule.Names
		if rule.Name != "" {
			ruleNames = append(ruleNames, rule.Name)
		}
		allow := isAllowAction(rule.Action)
		if allow == allowAll {
			continue // the default already says so
		}
		if len(rule.Args) > 0 {
			return refuse("the rule for %v filters on arguments", ruleNames)
		}
		if !allow {
			errno, err := denyErrnoName(rule.Action, rule.ErrnoRet)
			if err != nil {
				return refuse("%v", err)
			}
			if denySeen && errno != denyErrno {
				return refuse("denied syscalls get different results (%q, %q)", denyErrno, errno)
			}
			denyErrno, denySeen = errno, true
		}
		names = append(names, ruleNames...)
	}
	sort.Strings(names)
	if allowAll {
		if len(names) == 0 {
			return SeccompUnconfined, nil
		}
		return seccompSet("remove", denyErrno, names), nil
	}
	errno, err := denyErrnoName(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return refuse("%v", err)
	}
	if len(names) == 0 {
		return refuse("it allows no syscall at all")
	}
	return seccompSet("retain", errno, names), nil
}

func seccompSet(mode, errno string, names []string) string {
	s := "mode=" + mode
	if errno != "" {
		s += ",errno=" + errno
	}
	return s + "," + strings.Join(names, ",")
}

func isAllowAction(action string) bool {
	return action == "SCMP_ACT_ALLOW" || action == "SCMP_ACT_LOG"
}

// denyErrnoName is what a denying action returns as rkt's errno name: ""
// for the kill actions (systemd's default for filtered calls is SIGSYS).
func denyErrnoName(action string, errnoRet *uint) (string, error) {
	switch action {
	case "SCMP_ACT_ERRNO":
		n := uint(syscall.EPERM)
		if errnoRet != nil {
			n = *errnoRet
		}
		name := unix.ErrnoName(syscall.Errno(n))
		if name == "" {
			return "", fmt.Errorf("errno %d has no name", n)
		}
		return name, nil
	case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS":
		return "", nil
	}
	return "", fmt.Errorf("action %q", action)
}
