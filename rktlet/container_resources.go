package rktlet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/cgroups"
)

// containerLimits enforces containers' memory and CPU limits in their own
// cgroup v1 directories (cgroup_v1.go says why):
//
//	<pod's memory cgroup>/<app>   memory.limit_in_bytes, memory.memsw.limit_in_bytes
//	<pod's cpu cgroup>/<app>      cpu.shares, cpu.cfs_period_us, cpu.cfs_quota_us
//	<pod's pids cgroup>/<app>     pids.max
//
// An app's process is forked by the pod's systemd, so it joins the
// directories at the fork, before it runs a single instruction of its own:
// rktlet moves the pod's systemd into them for the time of `rkt app start`
// and back afterwards, then moves back anything else the pod's systemd
// forked meanwhile (it is not in the app unit's cgroup). A container the
// kernel's OOM killer killed is told by its memory directory's oom_kill
// count, which is why the directories stay until the container is removed.
type containerLimits struct {
	log *slog.Logger
	// v1 are the hierarchies found: cgroupMemory, cgroupCPU, cgroupPids.
	v1 map[string]*v1Hierarchy
	// podLocks serializes the starts in one pod: its systemd can be in one
	// app's directories at a time.
	podLocks keyedLocks
	// oomKilled caches, per exited container, whether the OOM killer ended it.
	oomKilled sync.Map
}

const (
	cgroupMemory = "memory"
	cgroupCPU    = "cpu"
	cgroupPids   = "pids"
)

func newContainerLimits(log *slog.Logger) *containerLimits {
	l := &containerLimits{log: log}
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

func (l *containerLimits) hierarchies() map[string]*v1Hierarchy {
	if l == nil {
		return nil
	}
	return l.v1
}

// validateResources refuses what no kernel would take, naming the field.
func validateResources(r *runtimeapi.LinuxContainerResources) error {
	if r == nil {
		return nil
	}
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("resources.%s = %v: %s: %w", field, v, why, errdefs.ErrInvalidArgument)
	}
	switch {
	case r.CpuShares < 0:
		return bad("cpu_shares", r.CpuShares, "negative")
	case r.CpuShares > 262144:
		return bad("cpu_shares", r.CpuShares, "above the kernel's maximum 262144")
	case r.CpuPeriod < 0:
		return bad("cpu_period", r.CpuPeriod, "negative")
	case r.CpuPeriod != 0 && (r.CpuPeriod < 1000 || r.CpuPeriod > 1000000):
		return bad("cpu_period", r.CpuPeriod, "not between 1000 and 1000000 µs")
	case r.CpuQuota < -1:
		return bad("cpu_quota", r.CpuQuota, "negative")
	case r.CpuQuota > 0 && r.CpuQuota < 1000:
		return bad("cpu_quota", r.CpuQuota, "below the kernel's minimum 1000 µs")
	case r.MemoryLimitInBytes < 0:
		return bad("memory_limit_in_bytes", r.MemoryLimitInBytes, "negative")
	case r.MemorySwapLimitInBytes < -1:
		return bad("memory_swap_limit_in_bytes", r.MemorySwapLimitInBytes, "negative")
	case r.MemorySwapLimitInBytes > 0 && r.MemorySwapLimitInBytes < r.MemoryLimitInBytes:
		return bad("memory_swap_limit_in_bytes", r.MemorySwapLimitInBytes, "below memory_limit_in_bytes (it counts memory plus swap)")
	case r.MemorySwapLimitInBytes > 0 && r.MemoryLimitInBytes == 0:
		return bad("memory_swap_limit_in_bytes", r.MemorySwapLimitInBytes, "set without memory_limit_in_bytes")
	case r.OomScoreAdj < -1000 || r.OomScoreAdj > 1000:
		return bad("oom_score_adj", r.OomScoreAdj, "not between -1000 and 1000")
	case r.CpusetCpus != "" || r.CpusetMems != "":
		return fmt.Errorf("resources.cpuset_cpus/cpuset_mems (%q/%q): CPU and memory-node pinning is not supported by rktlet: %w", r.CpusetCpus, r.CpusetMems, errdefs.ErrInvalidArgument)
	}
	for _, h := range r.HugepageLimits {
		if !hugepageSize.MatchString(h.GetPageSize()) {
			return bad("hugepage_limits.page_size", fmt.Sprintf("%q", h.GetPageSize()), `not a page size like "2MB" or "1GB"`)
		}
	}
	if err := cgroups.ValidateUnified(r.Unified); err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

var hugepageSize = regexp.MustCompile(`^[0-9]{1,7}[KMG]B$`)

// notEnforced names what of r this host records but does not enforce:
// settings cgroup v1 has no file for, and limits whose v1 hierarchy rktlet
// cannot reach.
func (l *containerLimits) notEnforced(r *runtimeapi.LinuxContainerResources) []string {
	v := cgroups.ForV1(r)
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
	l := cgroups.ForV1(r)
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
func (l *containerLimits) apply(dirs map[string]string, r *runtimeapi.LinuxContainerResources) error {
	var current int64
	if dir := dirs[cgroupMemory]; dir != "" {
		if v, ok := readUint(filepath.Join(dir, "memory.limit_in_bytes")); ok {
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

// createDirs makes a container's directories below those of the pod's
// systemd (init), and returns them and the pod's.
func (l *containerLimits) createDirs(c *container, init int) (dirs, homes map[string]string, err error) {
	dirs, homes = map[string]string{}, map[string]string{}
	for name, h := range l.hierarchies() {
		home, err := podHome(h, init)
		if err != nil {
			return nil, nil, err
		}
		homes[name] = home
		dirs[name] = filepath.Join(home, c.App)
	}
	return dirs, homes, nil
}

// podHome is the pod's own directory in a hierarchy: where its systemd
// is, unless a start was cut short (rktlet killed) with it still in an
// app's directory; it is moved back then.
func podHome(h *v1Hierarchy, init int) (string, error) {
	dir, err := h.dirOf(init)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(filepath.Base(dir), appNamePrefix) {
		dir = filepath.Dir(dir)
		if err := moveProcess(dir, init); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// returnPodInit puts a running pod's systemd back into the pod's own
// directories, at recovery.
func (s *Service) returnPodInit(ctx context.Context, sb *sandbox) {
	if len(s.limits.hierarchies()) == 0 {
		return
	}
	init, err := s.appCgroups.PodInitPID(ctx, sb.Unit)
	if err != nil {
		return // not running
	}
	for _, h := range s.limits.hierarchies() {
		if _, err := podHome(h, init); err != nil {
			s.log.Warn("checking the cgroup of a pod's systemd", "pod", sb.ID, "cgroup", h.String(), "error", err)
		}
	}
}

// startInOwnCgroups runs start (which makes the pod's systemd fork the
// app's process) with the pod's systemd in the container's directories.
func (s *Service) startInOwnCgroups(ctx context.Context, c *container, sb *sandbox, start func() error) error {
	l := s.limits
	if len(l.hierarchies()) == 0 {
		return start()
	}
	init, err := s.appCgroups.PodInitPID(ctx, sb.Unit)
	if err != nil {
		return fmt.Errorf("finding the systemd of pod %s: %w", sb.ID, err)
	}
	dirs, homes, err := l.createDirs(c, init)
	if err != nil {
		return err
	}
	// Recorded before they exist, so that no crash leaves them unknown.
	withDirs, err := s.containers.replace(c.ID, func(next *container) { next.CgroupsV1 = dirs })
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
	}
	if err := l.apply(dirs, withDirs.resources()); err != nil {
		return err
	}

	unlock := l.podLocks.lock(sb.ID)
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
		l.log.Error("could not move a pod's systemd back to its cgroups", "pod", sb.ID, "error", err)
	}
	if startErr != nil {
		return startErr
	}
	// Whatever else the pod's systemd forked meanwhile (another unit's
	// process) goes back to the pod's directories.
	own := map[int]bool{}
	if pids, err := s.appCgroups.PIDs(ctx, sb.Unit, c.App); err == nil {
		for _, p := range pids {
			own[p] = true
		}
	}
	for name, dir := range dirs {
		pids, _ := procs(dir)
		for _, p := range pids {
			if !own[p] {
				if err := moveProcess(homes[name], p); err != nil {
					l.log.Warn("could not move a process out of a container's cgroup", "container", c.ID, "pid", p, "error", err)
				}
			}
		}
	}
	return nil
}

// wasOOMKilled tells whether the kernel's OOM killer ended the exited
// container: its memory directory counted a kill.
func (l *containerLimits) wasOOMKilled(c *container) bool {
	if l == nil {
		return false
	}
	if v, ok := l.oomKilled.Load(c.ID); ok {
		return v.(bool)
	}
	dir := c.CgroupsV1[cgroupMemory]
	if dir == "" {
		return false
	}
	st, err := readKeyed(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return false
	}
	killed := st["oom_kill"] > 0
	l.oomKilled.Store(c.ID, killed)
	return killed
}

// removeDirs removes a stopped container's directories; a process that
// outlived its app (an exec'd command) is killed.
func (l *containerLimits) removeDirs(c *container) error {
	if l == nil {
		return nil
	}
	l.oomKilled.Delete(c.ID)
	var errs []error
	for _, dir := range c.CgroupsV1 {
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
