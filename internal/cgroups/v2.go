package cgroups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	cgroupsutil "github.com/opencontainers/cgroups"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/rktlet/rktlet/internal/atomicfile"
)

// On a pure cgroup v2 host the pod's systemd owns every cgroup below the
// pod unit's payload (the host's systemd delegates the pod unit, nspawn
// hands the controllers on), so limits go through it rather than around
// it, which a daemon-reload of the pod's systemd would undo. Each container
// is a slice of the pod's systemd, its app's unit runs in it:
//
//	<pod unit>/payload/ctr.slice/<app>.slice              MemoryMax=, MemoryHigh=, MemoryLow=, MemoryMin=,
//	                                                      MemorySwapMax=, CPUWeight=, CPUQuota=, TasksMax=, IOWeight=
//	<pod unit>/payload/ctr.slice/<app>.slice/<app>.service  OOMPolicy= (memory.oom.group)
//
// The slice is written as a unit file next to the app's own (which rkt
// writes) together with a drop-in that puts the app into it, before `rkt
// app add`, whose daemon-reload loads both: the pod's systemd forks the
// app's process into a cgroup that has its limits already. The slice
// outlives the app's process, so its memory.events still counts the OOM
// kills once the app has exited (the service's own cgroup is gone by
// then), and rktlet stops it when the container is removed.

// containerSliceParent is the slice of the pod's systemd every container's
// slice is in: "ctr-<id>.slice" is named after the app, and systemd puts a
// slice called a-b.slice into a.slice.
const containerSliceParent = "ctr.slice"

// SliceOf is the unit name of a container's slice.
func SliceOf(app string) string { return app + ".slice" }

// Setting is one assignment of a unit file or of `systemctl set-property`.
type Setting struct{ Key, Value string }

func (s Setting) String() string { return s.Key + "=" + s.Value }

// SystemdLimits are a container's resources as the pod's systemd takes
// them.
type SystemdLimits struct {
	// Slice goes to the container's slice, always with every key, so that a
	// change can also lift a limit.
	Slice []Setting
	// Service goes to the app's unit.
	Service []Setting
	// NotEnforced names, sorted, each setting that asks for more than the
	// default and that systemd cannot set in the pod.
	NotEnforced []string
}

// ForSystemd turns CRI resources, checked beforehand (ValidateResources),
// into unit settings. A unified key overrides the standard field it
// stands for, as runc does.
func ForSystemd(r *runtimeapi.LinuxContainerResources) SystemdLimits {
	memMax, swapMax := "infinity", "infinity"
	if v := r.GetMemoryLimitInBytes(); v > 0 {
		memMax = strconv.FormatInt(v, 10)
		if swap := r.GetMemorySwapLimitInBytes(); swap > 0 {
			// The CRI's swap limit counts memory and swap together (v1).
			if s, err := cgroupsutil.ConvertMemorySwapToCgroupV2Value(swap, v); err == nil && s >= 0 {
				swapMax = strconv.FormatInt(s, 10)
			}
		}
	}
	weight := "100"
	if v := r.GetCpuShares(); v > 0 {
		weight = strconv.FormatUint(cgroupsutil.ConvertCPUSharesToCgroupV2Value(uint64(v)), 10)
	}
	quota, period := int64(-1), int64(defaultCPUPeriod)
	if v := r.GetCpuPeriod(); v > 0 {
		period = v
	}
	if v := r.GetCpuQuota(); v > 0 {
		quota = v
	}
	set := map[string]string{
		"MemoryMax": memMax, "MemoryHigh": "infinity", "MemoryLow": "0", "MemoryMin": "0",
		"MemorySwapMax": swapMax, "CPUWeight": weight, "TasksMax": "infinity", "IOWeight": "",
	}
	oomPolicy := "continue"
	var notEnforced []string
	for _, h := range r.GetHugepageLimits() {
		if h.GetLimit() > 0 {
			notEnforced = append(notEnforced, fmt.Sprintf("hugepage_limits[%s] (systemd manages no hugetlb controller)", h.GetPageSize()))
		}
	}
	unifiedToSystemd := map[string]string{
		"memory.max": "MemoryMax", "memory.high": "MemoryHigh", "memory.low": "MemoryLow",
		"memory.min": "MemoryMin", "memory.swap.max": "MemorySwapMax", "pids.max": "TasksMax",
	}
	for k, v := range r.GetUnified() {
		switch k {
		case "memory.max", "memory.high", "memory.low", "memory.min", "memory.swap.max", "pids.max":
			if v == "max" {
				v = "infinity"
			}
			set[unifiedToSystemd[k]] = v
		case "memory.oom.group":
			if v == "1" {
				oomPolicy = "kill"
			}
		case "cpu.weight":
			set["CPUWeight"] = v
		case "cpu.max":
			q, p, _ := ParseCPUMax(v)
			quota = q
			if p > 0 {
				period = p
			}
		case "io.weight":
			// "default N" or "N"; per-device weights name devices the pod's
			// /dev does not have.
			f := strings.Fields(v)
			if len(f) == 1 || (len(f) == 2 && f[0] == "default") {
				set["IOWeight"] = f[len(f)-1]
			} else {
				notEnforced = append(notEnforced, "unified["+k+"] (per-device weights)")
			}
		default:
			if d, ok := defaults[k]; ok && d == v {
				continue
			}
			notEnforced = append(notEnforced, "unified["+k+"]")
		}
	}
	out := SystemdLimits{NotEnforced: notEnforced}
	for _, k := range []string{"MemoryMax", "MemoryHigh", "MemoryLow", "MemoryMin", "MemorySwapMax", "CPUWeight", "TasksMax", "IOWeight"} {
		out.Slice = append(out.Slice, Setting{k, set[k]})
	}
	// CPUQuota= is a share of one CPU per second, to a hundredth of a
	// percent: exact for the kubelet's quotas (a thousandth of a CPU is 100
	// µs a second); systemd writes cpu.max as quota × period / 1 s.
	cpuQuota := ""
	if quota > 0 {
		cpuQuota = fmt.Sprintf("%d.%02d%%", quota*100/period, (quota*10000/period)%100)
	}
	out.Slice = append(out.Slice, Setting{"CPUQuota", cpuQuota}, Setting{"CPUQuotaPeriodSec", strconv.FormatInt(period, 10) + "us"})
	out.Service = []Setting{
		{"OOMPolicy", oomPolicy},
		// The pod's DefaultTasksMax would cap every container: the limit is
		// the slice's, as the kubelet asked.
		{"TasksMax", "infinity"},
	}
	slices.Sort(out.NotEnforced)
	return out
}

// V2 enforces containers' resources on a pure cgroup v2 host, through the
// pod's systemd.
type V2 struct {
	log  *slog.Logger
	apps *Apps
	// systemctl runs systemctl in the pod's namespaces: the pod's systemd
	// refuses D-Bus clients from outside its PID namespace.
	systemctl func(ctx context.Context, podInit int, args ...string) error
	// oomKilled caches, per exited container, whether the OOM killer ended it.
	oomKilled sync.Map
}

// NewV2 returns the limiter of a pure cgroup v2 host.
func NewV2(log *slog.Logger, apps *Apps) *V2 {
	return &V2{log: log, apps: apps, systemctl: nsenterSystemctl}
}

func nsenterSystemctl(ctx context.Context, podInit int, args ...string) error {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--target", strconv.Itoa(podInit), "--mount", "--pid", "--", "/usr/bin/systemctl"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl %s in the pod: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// NotEnforced names what of r the pod's systemd cannot set.
func (l *V2) NotEnforced(r *runtimeapi.LinuxContainerResources) []string {
	return ForSystemd(r).NotEnforced
}

// unitDir is where the pod's systemd finds the units stage1 writes, seen
// through the pod's own root (the stage1 tree may be an overlay).
func unitDir(podInit int) string {
	return filepath.Join("/proc", strconv.Itoa(podInit), "root/usr/lib/systemd/system")
}

// Prepare writes the container's slice and the drop-in that puts the app
// into it, before `rkt app add` reloads the pod's systemd.
func (l *V2) Prepare(ctx context.Context, pod Pod, app string, r *runtimeapi.LinuxContainerResources) error {
	init, err := l.apps.PodInitPID(ctx, pod.Unit)
	if err != nil {
		return fmt.Errorf("finding the systemd of pod %s: %w", pod.ID, err)
	}
	return writeUnits(init, app, ForSystemd(r))
}

func writeUnits(init int, app string, lim SystemdLimits) error {
	dir := unitDir(init)
	if err := writeUnit(filepath.Join(dir, SliceOf(app)), sliceUnit(app, lim)); err != nil {
		return err
	}
	dropIn := filepath.Join(dir, app+".service.d")
	if err := os.MkdirAll(dropIn, 0o755); err != nil {
		return err
	}
	return writeUnit(filepath.Join(dropIn, dropInName), serviceDropIn(app, lim))
}

const dropInName = "50-rktlet-resources.conf"

func sliceUnit(app string, lim SystemdLimits) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by rktlet: the cgroup of container app %s and its limits.\n", app)
	b.WriteString("[Unit]\nDescription=rktlet container " + app + "\nDefaultDependencies=no\n\n[Slice]\n")
	for _, s := range lim.Slice {
		b.WriteString(s.String() + "\n")
	}
	return b.String()
}

func serviceDropIn(app string, lim SystemdLimits) string {
	var b strings.Builder
	b.WriteString("# Written by rktlet: the app runs in its container's slice.\n[Service]\nSlice=" + SliceOf(app) + "\n")
	for _, s := range lim.Service {
		b.WriteString(s.String() + "\n")
	}
	return b.String()
}

func writeUnit(path, content string) error {
	if err := atomicfile.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Dirs: a v2 container has no directories of rktlet's.
func (l *V2) Dirs(context.Context, Pod, string) (map[string]string, error) { return nil, nil }

// Start: the limits are in force from the fork on, set by the pod's systemd.
func (l *V2) Start(_ context.Context, _ Pod, _ string, _ map[string]string, _ *runtimeapi.LinuxContainerResources, start func() error) error {
	return start()
}

// Update gives the container's slice new limits at once (set-property),
// and rewrites the unit files so that they keep telling the truth.
func (l *V2) Update(ctx context.Context, pod Pod, app string, _ map[string]string, r *runtimeapi.LinuxContainerResources) error {
	init, err := l.apps.PodInitPID(ctx, pod.Unit)
	if err != nil {
		return fmt.Errorf("finding the systemd of pod %s: %w", pod.ID, err)
	}
	lim := ForSystemd(r)
	before, _ := os.ReadFile(filepath.Join(unitDir(init), app+".service.d", dropInName))
	if err := writeUnits(init, app, lim); err != nil {
		return err
	}
	args := []string{"set-property", "--runtime", SliceOf(app)}
	for _, s := range lim.Slice {
		args = append(args, s.String())
	}
	if err := l.systemctl(ctx, init, args...); err != nil {
		return err
	}
	if string(before) != serviceDropIn(app, lim) {
		// OOMPolicy= is no cgroup setting: the pod's systemd reads it anew.
		return l.systemctl(ctx, init, "daemon-reload")
	}
	return nil
}

// OOMKilled tells whether the kernel's OOM killer killed a process of the
// exited container: its slice's memory.events counts kills below it.
func (l *V2) OOMKilled(pod Pod, id, app string, _ map[string]string) bool {
	if v, ok := l.oomKilled.Load(id); ok {
		return v.(bool)
	}
	dir, err := l.apps.ContainerPath(context.Background(), pod.Unit, app)
	if err != nil {
		return false
	}
	ev, err := ReadKeyed(filepath.Join(dir, "memory.events"))
	if err != nil {
		return false
	}
	killed := ev["oom_kill"] > 0
	l.oomKilled.Store(id, killed)
	return killed
}

// Release stops the removed container's slice and removes its unit files.
func (l *V2) Release(ctx context.Context, pod Pod, id, app string, _ map[string]string) error {
	l.oomKilled.Delete(id)
	init, err := l.apps.PodInitPID(ctx, pod.Unit)
	if err != nil {
		return nil // the pod is not running: its systemd and units are gone
	}
	var errs []error
	if err := l.systemctl(ctx, init, "stop", SliceOf(app)); err != nil {
		errs = append(errs, err)
	}
	dir := unitDir(init)
	for _, p := range []string{filepath.Join(dir, app+".service.d"), filepath.Join(dir, SliceOf(app))} {
		if err := os.RemoveAll(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Recover has nothing to undo: the pod's systemd holds the state.
func (l *V2) Recover(context.Context, Pod) {}
