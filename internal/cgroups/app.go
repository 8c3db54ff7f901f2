package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rktlet/rktlet/errdefs"
)

// UnitCgroup returns the cgroup systemd gave a running unit (its
// ControlGroup, "" when it has none).
type UnitCgroup func(ctx context.Context, unit string) (string, error)

// Apps finds and kills an app's processes through its cgroup: the pod
// unit's cgroup (from the host's systemd), then nspawn's payload, then the
// app's unit inside the pod's systemd.
type Apps struct {
	unitCgroup UnitCgroup
	mode       Mode
	// payloads caches each pod unit's payload cgroup (unit → directory):
	// it is fixed while the unit runs, and asking systemd costs a D-Bus
	// round trip of several milliseconds on every start, stop, exec and
	// stats sample.
	payloads sync.Map
}

// NewApps finds apps' cgroups below the pod units' cgroups unitCgroup
// gives, where the mode's limiter has the pod's systemd put them.
func NewApps(unitCgroup UnitCgroup, mode Mode) *Apps {
	return &Apps{unitCgroup: unitCgroup, mode: mode}
}

// Root is where the unified hierarchy is mounted: /sys/fs/cgroup on a
// unified host, /sys/fs/cgroup/unified on a hybrid one.
func Root() (string, error) {
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if isCgroup2(p) {
			return p, nil
		}
	}
	return "", errors.New("no cgroup2 hierarchy mounted")
}

// Path is the app's cgroup directory in the unified hierarchy: in its
// container's slice on a unified host, in the pod's system.slice otherwise.
func (a *Apps) Path(ctx context.Context, unit, app string) (string, error) {
	parent, err := a.appParent(ctx, unit, app)
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, app+".service"), nil
}

// ContainerPath is the cgroup holding all of a container and its limits:
// on a unified host its slice, otherwise its app's cgroup.
func (a *Apps) ContainerPath(ctx context.Context, unit, app string) (string, error) {
	if a.mode != Unified {
		return a.Path(ctx, unit, app)
	}
	return a.appParent(ctx, unit, app)
}

// appParent is the cgroup the pod's systemd puts an app's unit in.
func (a *Apps) appParent(ctx context.Context, unit, app string) (string, error) {
	payload, err := a.Payload(ctx, unit)
	if err != nil {
		return "", err
	}
	if a.mode == Unified {
		return filepath.Join(payload, containerSliceParent, SliceOf(app)), nil
	}
	return filepath.Join(payload, "system.slice"), nil
}

// MuxRunning tells whether the app's I/O multiplexer (stage1's
// iomux@<app> or ttymux@<app> unit, which ships the app's output to the
// pod's journal) still has a process: after the app exits it drains the
// app's pipes for up to 3 s.
func (a *Apps) MuxRunning(ctx context.Context, unit, app string) bool {
	payload, err := a.Payload(ctx, unit)
	if err != nil {
		return false
	}
	for _, mux := range []string{"iomux", "ttymux"} {
		procs, err := os.ReadFile(filepath.Join(payload, "system.slice", "system-"+mux+".slice", mux+"@"+app+".service", "cgroup.procs"))
		if err == nil && len(strings.TrimSpace(string(procs))) > 0 {
			return true
		}
	}
	return false
}

// Payload is the cgroup nspawn gives the pod's own systemd and its units.
func (a *Apps) Payload(ctx context.Context, unit string) (string, error) {
	if dir, ok := a.payloads.Load(unit); ok {
		if _, err := os.Stat(dir.(string)); err == nil {
			return dir.(string), nil
		}
		a.payloads.Delete(unit) // the unit stopped
	}
	cg, err := a.unitCgroup(ctx, unit)
	if err != nil {
		return "", err
	}
	if cg == "" {
		return "", fmt.Errorf("pod unit %s has no cgroup (not running)", unit)
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, cg, "payload")
	if _, err := os.Stat(dir); err == nil {
		a.payloads.Store(unit, dir)
	}
	return dir, nil
}

// Forget drops what is cached of a pod unit, when its pod is removed.
func (a *Apps) Forget(unit string) { a.payloads.Delete(unit) }

// PodInitPID returns the host PID of the pod's systemd (stage1's PID 1),
// the process that forks every app. It is the process of the pod's
// init.scope that is PID 1 of the pod's PID namespace: right after a fork
// the pod's systemd's child sits in init.scope too, until it has moved
// itself into its unit's cgroup, so back-to-back starts see two.
func (a *Apps) PodInitPID(ctx context.Context, unit string) (int, error) {
	payload, err := a.Payload(ctx, unit)
	if err != nil {
		return 0, err
	}
	pids, err := Procs(filepath.Join(payload, "init.scope"))
	if err != nil {
		return 0, err
	}
	for _, pid := range pids {
		if inner, err := innermostPID(pid); err == nil && inner == 1 {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("pod unit %s: none of the %d processes in the pod's init.scope is its PID 1", unit, len(pids))
}

// innermostPID is a process's PID in its own (innermost) PID namespace,
// the last field of NSpid in /proc/PID/status.
func innermostPID(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.Atoi(f[len(f)-1])
		}
	}
	return 0, fmt.Errorf("process %d: no NSpid in its status", pid)
}

// Procs lists the processes in a cgroup directory.
func Procs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, p := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(p); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// PIDs lists the app's processes (host PIDs).
func (a *Apps) PIDs(ctx context.Context, unit, app string) ([]int, error) {
	dir, err := a.Path(ctx, unit, app)
	if err != nil {
		return nil, err
	}
	return Procs(dir)
}

// Signal sends sig to every process of the app, as systemd's stop of a
// unit with the default KillMode=control-group does.
func (a *Apps) Signal(ctx context.Context, unit, app string, sig syscall.Signal) error {
	pids, err := a.PIDs(ctx, unit, app)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("sending %v to process %d of app %s: %w", sig, pid, app, err)
		}
	}
	return nil
}

// Kill sends SIGKILL to every process of the app.
func (a *Apps) Kill(ctx context.Context, unit, app string) error {
	dir, err := a.Path(ctx, unit, app)
	if err != nil {
		return err
	}
	// cgroup.kill (Linux 5.14) kills the whole tree at once, also processes
	// forked meanwhile.
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err == nil {
		return nil
	} else if errors.Is(err, os.ErrNotExist) {
		if _, statErr := os.Stat(dir); statErr != nil {
			return nil // the app's cgroup is gone: nothing runs
		}
	}
	return killProcs(dir)
}

// killProcs sends SIGKILL to every process in a cgroup directory, a few
// times over for processes forked meanwhile.
func killProcs(dir string) error {
	for i := 0; i < 10; i++ {
		pids, err := Procs(dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// ErrAppNotInRoot says that the app's processes are still being set up by
// the pod's systemd: forked into the app's cgroup, but not yet in the app's
// mount namespace and root.
var ErrAppNotInRoot = errors.New("the app's process is not in its own root yet")

// RunningPID returns a process of the app that runs in the app's own root.
// The pod's systemd forks the app's process into the app's cgroup, then
// sets up its mount namespace and root directory, then execs; until then a
// command entered through that process's mount namespace would run among
// the pod's files ("Unable to open sh"). podInit is the pod's systemd, whose
// root is the pod's. It fails with ErrAppNotInRoot while the app's processes
// are all still in the pod's root, and errdefs.ErrFailedPrecondition when it has
// none.
func (a *Apps) RunningPID(ctx context.Context, unit, app string, podInit int) (int, error) {
	podRoot, err := rootOf(podInit)
	if err != nil {
		return 0, fmt.Errorf("the root of the pod's systemd: %w", err)
	}
	pids, err := a.PIDs(ctx, unit, app)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	if len(pids) == 0 {
		return 0, fmt.Errorf("app %s has no process: %w", app, errdefs.ErrFailedPrecondition)
	}
	for _, pid := range pids {
		if root, err := rootOf(pid); err == nil && !os.SameFile(root, podRoot) {
			return pid, nil
		}
	}
	return 0, ErrAppNotInRoot
}

// rootOf is the root directory of a process, as seen by the process.
func rootOf(pid int) (os.FileInfo, error) {
	return os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "root") + "/")
}
