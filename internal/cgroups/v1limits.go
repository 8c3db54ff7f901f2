package cgroups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/keyedlock"
)

// V1 enforces containers' memory, CPU and pids limits in their own
// cgroup v1 directories (v1hierarchy.go says why):
//
//	<pod's memory cgroup>/<app>   memory.limit_in_bytes, memory.memsw.limit_in_bytes
//	<pod's cpu cgroup>/<app>      cpu.shares, cpu.cfs_period_us, cpu.cfs_quota_us
//	<pod's pids cgroup>/<app>     pids.max
//
// An app's process is forked by the pod's systemd, so it joins the
// directories at the fork, before it runs a single instruction of its own:
// Start moves the pod's systemd into them for the time of `rkt app start`
// and back afterwards, then moves back anything else the pod's systemd
// forked meanwhile (it is not in the app unit's cgroup). A container the
// kernel's OOM killer killed is told by its memory directory's oom_kill
// count, which is why the directories stay until the container is removed.
type V1 struct {
	log  *slog.Logger
	apps *Apps
	// v1 are the hierarchies found: cgroupMemory, cgroupCPU, cgroupPids.
	v1 map[string]*v1Hierarchy
	// podLocks serializes the starts in one pod: its systemd can be in one
	// app's directories at a time.
	podLocks keyedlock.Locks
	// oomKilled caches, per exited container, whether the OOM killer ended it.
	oomKilled sync.Map
}

const (
	cgroupMemory = "memory"
	cgroupCPU    = "cpu"
	cgroupPids   = "pids"
)

// NewV1 finds the v1 hierarchies of the memory, cpu and pids controllers
// reachable here; a controller without one has its limits recorded, not
// enforced.
func NewV1(log *slog.Logger, apps *Apps) *V1 {
	l := &V1{log: log, apps: apps}
	found, err := v1Hierarchies(cgroupMemory, cgroupCPU, cgroupPids)
	if err != nil {
		log.Warn("cannot read the cgroup v1 mounts: container limits will not be enforced", "error", err)
		return l
	}
	l.v1 = found
	for _, c := range []string{cgroupMemory, cgroupCPU, cgroupPids} {
		if h := found[c]; h != nil {
			log.Info("container limits in cgroup v1", "controller", c, "mountpoint", h.mountpoint)
		} else {
			log.Warn("no reachable cgroup v1 hierarchy: this controller's container limits are recorded, not enforced", "controller", c)
		}
	}
	return l
}

func (l *V1) hierarchies() map[string]*v1Hierarchy {
	if l == nil {
		return nil
	}
	return l.v1
}

// NotEnforced names what of r this host records but does not enforce:
// settings cgroup v1 has no file for, and limits whose v1 hierarchy rktlet
// cannot reach.
func (l *V1) NotEnforced(r *runtimeapi.LinuxContainerResources) []string {
	v := ForV1(r)
	out := v.NotEnforced
	asked := map[string]bool{
		cgroupMemory: v.Memory >= 0 || v.MemorySwap >= 0,
		cgroupCPU:    r.GetCpuShares() > 0 || v.CPUQuota > 0 || r.GetUnified()["cpu.weight"] != "",
		cgroupPids:   v.Pids >= 0,
	}
	for _, c := range []string{cgroupMemory, cgroupCPU, cgroupPids} {
		if asked[c] && l.hierarchies()[c] == nil {
			out = append(out, c+" limits (no cgroup v1 "+c+" hierarchy reachable)")
		}
	}
	return out
}

// limitFile is one cgroup file write of a container's limits.
type limitFile struct {
	controller, file, value string
}

// limitFiles are the writes that set r, in an order the kernel accepts
// from any previous values: memory+swap may never be below memory, so it is
// raised first and lowered last.
func limitFiles(r *runtimeapi.LinuxContainerResources, currentMemory int64) []limitFile {
	l := ForV1(r)
	memory := limitFile{cgroupMemory, "memory.limit_in_bytes", strconv.FormatInt(l.Memory, 10)}
	// Unset, memory+swap is unlimited, as the kubelet's other runtimes
	// leave it (swap disabled: no swap).
	swap := limitFile{cgroupMemory, "memory.memsw.limit_in_bytes", strconv.FormatInt(l.MemorySwap, 10)}
	var out []limitFile
	if l.Memory >= 0 && (currentMemory <= 0 || l.Memory < currentMemory) {
		out = append(out, memory, swap)
	} else {
		out = append(out, swap, memory)
	}
	out = append(out,
		limitFile{cgroupCPU, "cpu.shares", strconv.FormatInt(l.CPUShares, 10)},
		limitFile{cgroupCPU, "cpu.cfs_quota_us", "-1"},
		limitFile{cgroupCPU, "cpu.cfs_period_us", strconv.FormatInt(l.CPUPeriod, 10)},
	)
	if l.CPUQuota > 0 {
		out = append(out, limitFile{cgroupCPU, "cpu.cfs_quota_us", strconv.FormatInt(l.CPUQuota, 10)})
	}
	pids := "max"
	if l.Pids >= 0 {
		pids = strconv.FormatInt(l.Pids, 10)
	}
	return append(out, limitFile{cgroupPids, "pids.max", pids})
}

// apply writes r into a container's directories.
func (l *V1) apply(dirs map[string]string, r *runtimeapi.LinuxContainerResources) error {
	var current int64
	if dir := dirs[cgroupMemory]; dir != "" {
		if v, ok := ReadUint(filepath.Join(dir, "memory.limit_in_bytes")); ok {
			current = int64(v)
		}
	}
	for _, f := range limitFiles(r, current) {
		dir := dirs[f.controller]
		if dir == "" {
			continue
		}
		path := filepath.Join(dir, f.file)
		err := os.WriteFile(path, []byte(f.value), 0)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrNotExist) && f.file == "memory.memsw.limit_in_bytes":
			// No swap accounting in this kernel: there is no swap to limit.
		case errors.Is(err, syscall.EBUSY):
			return fmt.Errorf("setting %s to %s: the container uses more than that: %w", f.file, f.value, errdefs.ErrFailedPrecondition)
		case errors.Is(err, syscall.EINVAL):
			return fmt.Errorf("setting %s to %s: the kernel refused it (above the pod's limit?): %w", f.file, f.value, errdefs.ErrInvalidArgument)
		default:
			return fmt.Errorf("setting %s to %s: %w", path, f.value, err)
		}
	}
	return nil
}

// Prepare has nothing to do before the app is added: its directories are
// made when it starts.
func (l *V1) Prepare(context.Context, Pod, string, *runtimeapi.LinuxContainerResources) error {
	return nil
}

// Dirs names the container's own directories, below those of the pod's
// systemd, for the record to hold before Start makes them (so that no crash
// leaves them unknown). None on a host without v1 hierarchies.
func (l *V1) Dirs(ctx context.Context, pod Pod, app string) (map[string]string, error) {
	if len(l.hierarchies()) == 0 {
		return nil, nil
	}
	init, err := l.apps.PodInitPID(ctx, pod.Unit)
	if err != nil {
		return nil, fmt.Errorf("finding the systemd of pod %s: %w", pod.ID, err)
	}
	dirs := map[string]string{}
	for name, h := range l.hierarchies() {
		home, err := podHome(h, init)
		if err != nil {
			return nil, err
		}
		dirs[name] = filepath.Join(home, app)
	}
	return dirs, nil
}

// podHome is the pod's own directory in a hierarchy: where its systemd
// is, unless a start was cut short (rktlet killed) with it still in an
// app's directory; it is moved back then.
func podHome(h *v1Hierarchy, init int) (string, error) {
	dir, err := h.dirOf(init)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(filepath.Base(dir), AppNamePrefix) {
		dir = filepath.Dir(dir)
		if err := moveProcess(dir, init); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// AppNamePrefix begins the rkt app name of every container rktlet makes.
const AppNamePrefix = "ctr-"

// Recover puts a running pod's systemd back into the pod's own
// directories, where a start cut short by a crash left it in an app's.
func (l *V1) Recover(ctx context.Context, pod Pod) {
	if len(l.hierarchies()) == 0 {
		return
	}
	init, err := l.apps.PodInitPID(ctx, pod.Unit)
	if err != nil {
		return // not running
	}
	for _, h := range l.hierarchies() {
		if _, err := podHome(h, init); err != nil {
			l.log.Warn("checking the cgroup of a pod's systemd", "pod", pod.ID, "cgroup", h.String(), "error", err)
		}
	}
}

// Start runs start (which makes the pod's systemd fork the app's process)
// with the pod's systemd in the container's directories, made here with r
// written into them.
func (l *V1) Start(ctx context.Context, pod Pod, app string, dirs map[string]string, r *runtimeapi.LinuxContainerResources, start func() error) error {
	if len(dirs) == 0 {
		return start()
	}
	init, err := l.apps.PodInitPID(ctx, pod.Unit)
	if err != nil {
		return fmt.Errorf("finding the systemd of pod %s: %w", pod.ID, err)
	}
	homes := map[string]string{}
	for name, dir := range dirs {
		homes[name] = filepath.Dir(dir)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
	}
	if err := l.apply(dirs, r); err != nil {
		return err
	}

	unlock := l.podLocks.Lock(pod.ID)
	defer unlock()
	moveBack := func() error {
		var errs []error
		for _, home := range homes {
			errs = append(errs, moveProcess(home, init))
		}
		return errors.Join(errs...)
	}
	for name, dir := range dirs {
		if err := moveProcess(dir, init); err != nil {
			_ = moveBack()
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	startErr := start()
	if err := moveBack(); err != nil {
		// The pod's later forks would land in this container's limits.
		l.log.Error("could not move a pod's systemd back to its cgroups", "pod", pod.ID, "error", err)
	}
	if startErr != nil {
		return startErr
	}
	// Whatever else the pod's systemd forked meanwhile (another unit's
	// process) goes back to the pod's directories.
	own := map[int]bool{}
	if pids, err := l.apps.PIDs(ctx, pod.Unit, app); err == nil {
		for _, p := range pids {
			own[p] = true
		}
	}
	for name, dir := range dirs {
		pids, _ := Procs(dir)
		for _, p := range pids {
			if !own[p] {
				if err := moveProcess(homes[name], p); err != nil {
					l.log.Warn("could not move a process out of a container's cgroup", "pod", pod.ID, "app", app, "pid", p, "error", err)
				}
			}
		}
	}
	return nil
}

// Update writes new limits into a running container's directories.
func (l *V1) Update(_ context.Context, _ Pod, _ string, dirs map[string]string, r *runtimeapi.LinuxContainerResources) error {
	if len(dirs) == 0 {
		return nil
	}
	return l.apply(dirs, r)
}

// OOMKilled tells whether the kernel's OOM killer ended the exited
// container: its memory directory counted a kill.
func (l *V1) OOMKilled(_ Pod, id, _ string, dirs map[string]string) bool {
	if l == nil {
		return false
	}
	if v, ok := l.oomKilled.Load(id); ok {
		return v.(bool)
	}
	dir := dirs[cgroupMemory]
	if dir == "" {
		return false
	}
	st, err := ReadKeyed(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return false
	}
	killed := st["oom_kill"] > 0
	l.oomKilled.Store(id, killed)
	return killed
}

// Release removes a stopped container's directories; a process that
// outlived its app (an exec'd command) is killed.
func (l *V1) Release(_ context.Context, _ Pod, id, _ string, dirs map[string]string) error {
	if l == nil {
		return nil
	}
	l.oomKilled.Delete(id)
	var errs []error
	for _, dir := range dirs {
		var err error
		for i := 0; i < 20; i++ {
			if err = removeCgroupDir(dir); err == nil || !errors.Is(err, syscall.EBUSY) {
				break
			}
			_ = killProcs(dir)
			time.Sleep(50 * time.Millisecond)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
