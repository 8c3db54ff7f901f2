package rktlet

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

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

// validateSysctls refuses sysctls that cannot be set for one pod.
func validateSysctls(sysctls map[string]string, hostNetwork bool) error {
	for k := range sysctls {
		ns, ok := sysctlNamespace(k)
		if !ok {
			return fmt.Errorf("config.linux.sysctls: %q is not a namespaced sysctl; setting it would change the node: %w", k, ErrInvalidArgument)
		}
		if ns == "net" && hostNetwork {
			return fmt.Errorf("config.linux.sysctls: %q cannot be set for a pod in the node's network namespace: %w", k, ErrInvalidArgument)
		}
	}
	return nil
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
				path := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
				if err := os.WriteFile(path, []byte(v), 0); err != nil {
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

// podLeader returns the pod's init process: the child of the unit's main
// process (systemd-nspawn).
func podLeader(nspawnPID uint32) (int, error) {
	// The kernel lists a task's children directly (CONFIG_PROC_CHILDREN);
	// without that, every process's parent is read.
	pid := strconv.FormatUint(uint64(nspawnPID), 10)
	if b, err := os.ReadFile(filepath.Join("/proc", pid, "task", pid, "children")); err == nil {
		if fields := strings.Fields(string(b)); len(fields) > 0 {
			if leader, err := strconv.Atoi(fields[0]); err == nil {
				return leader, nil
			}
		}
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(b)
		rest := s[strings.LastIndexByte(s, ')')+1:]
		fields := strings.Fields(rest)
		if len(fields) > 1 && fields[1] == strconv.FormatUint(uint64(nspawnPID), 10) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no child of systemd-nspawn (PID %d) found", nspawnPID)
}
