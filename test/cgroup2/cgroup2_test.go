//go:build cgroup2

// Package cgroup2 checks container resources on a real systemd host with a
// pure cgroup v2 hierarchy: the VM hack/test-cgroup2.sh boots, with rktlet
// running there as a unit (RKTLET_UNIT) on RKTLET_SOCKET and images in a
// registry of the guest's own. The guest is 20 to 30 times slower than the
// host, so the tests share one pod and wait generously.
package cgroup2

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const busybox = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

type suite struct {
	t      *testing.T
	rt     runtimeapi.RuntimeServiceClient
	img    runtimeapi.ImageServiceClient
	pod    string
	podCfg *runtimeapi.PodSandboxConfig
	// oomKilled are the containers checkOOM saw OOM-killed.
	oomKilled []container
}

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run these tests with `make test-cgroup2`", name)
	}
	return v
}

func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

func connect(t *testing.T) (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) {
	conn, err := grpc.NewClient("unix://"+env(t, "RKTLET_SOCKET"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)
}

// TestCgroupV2 runs the checks in order on one pod: a pod start takes
// most of a minute in the VM.
func TestCgroupV2(t *testing.T) {
	s := &suite{t: t}
	s.rt, s.img = connect(t)
	st, err := s.rt.Status(ctx(t, time.Minute), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.GetInfo()["cgroupMode"]; mode != "unified" {
		t.Fatalf("rktlet says the cgroup mode is %q, want unified", mode)
	}
	if _, err := s.img.PullImage(ctx(t, 5*time.Minute), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: busybox}}); err != nil {
		t.Fatal(err)
	}
	s.podCfg = &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "cgroup2", Namespace: "test", Uid: "cgroup2-uid"},
		Linux:    &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "kubepods.slice"},
	}
	start := time.Now()
	r, err := s.rt.RunPodSandbox(ctx(t, 5*time.Minute), &runtimeapi.RunPodSandboxRequest{Config: s.podCfg})
	if err != nil {
		t.Fatal(err)
	}
	s.pod = r.GetPodSandboxId()
	t.Logf("RunPodSandbox took %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		c := context.Background()
		_, _ = s.rt.StopPodSandbox(c, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.pod})
		_, _ = s.rt.RemovePodSandbox(c, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.pod})
	})

	limited := s.run("limits", []string{"sh", "-c", "sleep 100000"}, kubeletResources(64<<20, 20000, 204))
	t.Run("1 limits in the container's cgroup", func(t *testing.T) { s.checkLimits(t, limited) })
	t.Run("2 OOM killed", s.checkOOM)
	t.Run("3 update", func(t *testing.T) { s.checkUpdate(t, limited) })
	t.Run("4 stats", func(t *testing.T) { s.checkStats(t, limited) })
	t.Run("5 unified keys", s.checkUnified)
	t.Run("7 rktlet killed and restarted", func(t *testing.T) { s.checkRestart(t, limited) })
}

// kubeletResources is what a kubelet 1.37 sends on a v2 host for a
// container with these limits.
func kubeletResources(memory, quota, shares int64) *runtimeapi.LinuxContainerResources {
	return &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: memory, CpuQuota: quota, CpuPeriod: 100000, CpuShares: shares, OomScoreAdj: 999,
		Unified: map[string]string{"memory.oom.group": "1", "memory.high": "max"},
	}
}

type container struct {
	id   string
	name string
}

// create makes a container in the suite's pod.
func (s *suite) create(name string, cmd []string, r *runtimeapi.LinuxContainerResources) (string, error) {
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: busybox},
		Command:  cmd,
		Linux:    &runtimeapi.LinuxContainerConfig{Resources: r},
	}
	resp, err := s.rt.CreateContainer(ctx(s.t, 5*time.Minute), &runtimeapi.CreateContainerRequest{PodSandboxId: s.pod, Config: cfg, SandboxConfig: s.podCfg})
	return resp.GetContainerId(), err
}

// run creates and starts a container.
func (s *suite) run(name string, cmd []string, r *runtimeapi.LinuxContainerResources) container {
	s.t.Helper()
	id, err := s.create(name, cmd, r)
	if err != nil {
		s.t.Fatalf("creating %s: %v", name, err)
	}
	if _, err := s.rt.StartContainer(ctx(s.t, 5*time.Minute), &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		s.t.Fatalf("starting %s: %v", name, err)
	}
	return container{id: id, name: name}
}

func (s *suite) status(t *testing.T, id string) (*runtimeapi.ContainerStatus, map[string]any) {
	t.Helper()
	resp, err := s.rt.ContainerStatus(ctx(t, time.Minute), &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	info := map[string]any{}
	if err := json.Unmarshal([]byte(resp.GetInfo()["info"]), &info); err != nil {
		t.Fatalf("verbose info %q: %v", resp.GetInfo()["info"], err)
	}
	return resp.GetStatus(), info
}

// cgroupOf is the container's cgroup (its slice) as rktlet reports it.
func (s *suite) cgroupOf(t *testing.T, id string) string {
	t.Helper()
	_, info := s.status(t, id)
	dir, _ := info["cgroup"].(string)
	if dir == "" {
		t.Fatalf("container %s: no cgroup in its verbose status %v", id, info)
	}
	return dir
}

func read(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func keyed(t *testing.T, dir, file string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, line := range strings.Split(read(t, dir, file), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			out[k] = n
		}
	}
	return out
}

func expectFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for f, v := range want {
		if got := read(t, dir, f); got != v {
			t.Errorf("%s/%s = %q, want %q", dir, f, got, v)
		}
	}
}

// appDir is the cgroup of the container's app unit inside its slice.
func appDir(slice string) string {
	app := strings.TrimSuffix(filepath.Base(slice), ".slice")
	return filepath.Join(slice, app+".service")
}

func (s *suite) checkLimits(t *testing.T, c container) {
	dir := s.cgroupOf(t, c.id)
	t.Logf("container cgroup %s", dir)
	expectFiles(t, dir, map[string]string{
		"memory.max": "67108864", "cpu.max": "20000 100000", "memory.high": "max",
		// 204 shares in the conversion runc and the kubelet use.
		"cpu.weight": "29", "pids.max": "max",
	})
	expectFiles(t, appDir(dir), map[string]string{"memory.oom.group": "1"})
	// The app's processes are in it, and so is a command exec'd into it.
	pids := strings.Fields(read(t, appDir(dir), "cgroup.procs"))
	if len(pids) == 0 {
		t.Fatalf("no process in %s", appDir(dir))
	}
	if adj := read(t, "/proc/"+pids[0], "oom_score_adj"); adj != "999" {
		t.Errorf("the app's oom_score_adj is %s, want 999", adj)
	}
	resp, err := s.rt.ExecSync(ctx(t, 2*time.Minute), &runtimeapi.ExecSyncRequest{ContainerId: c.id, Cmd: []string{"cat", "/proc/self/cgroup"}, Timeout: 60})
	if err != nil {
		t.Fatal(err)
	}
	out := string(resp.GetStdout())
	if !strings.Contains(out, strings.TrimPrefix(appDir(dir), "/sys/fs/cgroup")) {
		t.Errorf("exec'd command in %q, want it in %s", out, appDir(dir))
	}
	t.Logf("memory.max=%s cpu.max=%q cpu.weight=%s; exec'd: %q", read(t, dir, "memory.max"), read(t, dir, "cpu.max"), read(t, dir, "cpu.weight"), out)
}

// waitExited waits for a container to exit and returns its status.
func (s *suite) waitExited(t *testing.T, id string, d time.Duration) *runtimeapi.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, _ := s.status(t, id)
		if st.GetState() == runtimeapi.ContainerState_CONTAINER_EXITED {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %s after %s", id, st.GetState(), d)
		}
		time.Sleep(time.Second)
	}
}

func (s *suite) checkOOM(t *testing.T) {
	// dd's 200 MiB buffer in a 64 MiB container: the main process goes.
	r := kubeletResources(64<<20, 0, 2)
	delete(r.Unified, "memory.oom.group")
	single := s.run("oom-main", []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"}, r)
	// memory.oom.group: a child's allocation takes the whole container,
	// the shell that waits for nothing included.
	group := s.run("oom-group", []string{"sh", "-c", "dd if=/dev/zero of=/dev/null bs=200M count=1 & exec sleep 100000"}, kubeletResources(64<<20, 0, 2))
	for _, c := range []container{single, group} {
		st := s.waitExited(t, c.id, 3*time.Minute)
		if st.GetExitCode() != 137 || st.GetReason() != "OOMKilled" {
			t.Errorf("%s: exit code %d reason %q, want 137 OOMKilled; stage1's exit file: %s", c.name, st.GetExitCode(), st.GetReason(), exitFile(c.id))
		}
		ev := keyed(t, s.cgroupOf(t, c.id), "memory.events")
		if ev["oom_kill"] == 0 {
			t.Errorf("%s: memory.events counts no OOM kill: %v", c.name, ev)
		}
		t.Logf("%s: exit %d %s; memory.events oom_kill=%d oom_group_kill=%d", c.name, st.GetExitCode(), st.GetReason(), ev["oom_kill"], ev["oom_group_kill"])
	}
	s.oomKilled = []container{single, group}
}

// exitFile describes the exit file stage1's reaper writes for a container.
func exitFile(id string) string {
	paths, _ := filepath.Glob("/var/lib/rktlet/rkt/pods/run/*/stage1/rootfs/rkt/status/ctr-" + id[:20])
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		b, _ := os.ReadFile(p)
		out = append(out, fmt.Sprintf("%s: %q written %s ago", p, b, time.Since(fi.ModTime()).Round(time.Millisecond)))
	}
	return strings.Join(out, "; ")
}

func (s *suite) checkUpdate(t *testing.T, c container) {
	r := kubeletResources(32<<20, 50000, 512)
	r.Unified["pids.max"] = "100"
	r.Unified["memory.low"] = "1048576"
	if _, err := s.rt.UpdateContainerResources(ctx(t, 2*time.Minute), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: c.id, Linux: r}); err != nil {
		t.Fatal(err)
	}
	dir := s.cgroupOf(t, c.id)
	expectFiles(t, dir, map[string]string{
		"memory.max": "33554432", "cpu.max": "50000 100000", "pids.max": "100", "memory.low": "1048576",
		"cpu.weight": fmt.Sprint(weightFor(512)),
	})
	st, _ := s.status(t, c.id)
	got := st.GetResources().GetLinux()
	if got.GetMemoryLimitInBytes() != 32<<20 || got.GetCpuQuota() != 50000 || got.GetUnified()["pids.max"] != "100" {
		t.Errorf("ContainerStatus.resources after the update: %v", got)
	}
	t.Logf("after update: memory.max=%s cpu.max=%q pids.max=%s", read(t, dir, "memory.max"), read(t, dir, "cpu.max"), read(t, dir, "pids.max"))
	// Lifting a limit lifts it.
	r.Unified = map[string]string{"memory.oom.group": "1"}
	r.MemoryLimitInBytes, r.CpuQuota = 0, 0
	if _, err := s.rt.UpdateContainerResources(ctx(t, 2*time.Minute), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: c.id, Linux: r}); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, dir, map[string]string{"memory.max": "max", "cpu.max": "max 100000", "pids.max": "max"})
	// And back to the limits the other tests expect.
	if _, err := s.rt.UpdateContainerResources(ctx(t, 2*time.Minute), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: c.id, Linux: kubeletResources(64<<20, 20000, 204)}); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, dir, map[string]string{"memory.max": "67108864", "cpu.max": "20000 100000"})
}

// weightFor is the cgroup v2 weight of cpu shares, as opencontainers/cgroups
// converts them (checked against the file rktlet's limits produce).
func weightFor(shares int) int {
	return map[int]int{204: 29, 512: 59, 1024: 100}[shares]
}

func (s *suite) checkStats(t *testing.T, c container) {
	// Some memory and CPU to see: a 20 MiB file in the container's /tmp
	// counts as its page cache.
	if _, err := s.rt.ExecSync(ctx(t, 2*time.Minute), &runtimeapi.ExecSyncRequest{ContainerId: c.id, Cmd: []string{"sh", "-c", "dd if=/dev/zero of=/tmp/f bs=1M count=20 2>/dev/null; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"}, Timeout: 120}); err != nil {
		t.Fatal(err)
	}
	dir := s.cgroupOf(t, c.id)
	resp, err := s.rt.ContainerStats(ctx(t, time.Minute), &runtimeapi.ContainerStatsRequest{ContainerId: c.id})
	if err != nil {
		t.Fatal(err)
	}
	current := keyedOne(t, dir, "memory.current")
	stat := keyed(t, dir, "memory.stat")
	cpu := keyed(t, dir, "cpu.stat")
	m, u := resp.GetStats().GetMemory(), resp.GetStats().GetCpu()
	t.Logf("ContainerStats: usage %d working set %d rss %d page faults %d, cpu %d ns; files: memory.current %d inactive_file %d anon %d, cpu.stat usage_usec %d",
		m.GetUsageBytes().GetValue(), m.GetWorkingSetBytes().GetValue(), m.GetRssBytes().GetValue(), m.GetPageFaults().GetValue(), u.GetUsageCoreNanoSeconds().GetValue(),
		current, stat["inactive_file"], stat["anon"], cpu["usage_usec"])
	if m.GetWorkingSetBytes().GetValue() == 0 || m.GetUsageBytes().GetValue() == 0 || m.GetPageFaults().GetValue() == 0 || u.GetUsageCoreNanoSeconds().GetValue() == 0 {
		t.Errorf("zero figures: memory %v cpu %v", m, u)
	}
	// The files move between the two reads; 4 MiB and the CPU read first
	// bound it.
	if diff := int64(m.GetUsageBytes().GetValue()) - int64(current); diff > 4<<20 || diff < -4<<20 {
		t.Errorf("usage %d, memory.current %d", m.GetUsageBytes().GetValue(), current)
	}
	if ws := m.GetWorkingSetBytes().GetValue(); ws > m.GetUsageBytes().GetValue() || ws+stat["inactive_file"] < m.GetUsageBytes().GetValue()-4<<20 {
		t.Errorf("working set %d is not usage %d less inactive_file %d", ws, m.GetUsageBytes().GetValue(), stat["inactive_file"])
	}
	if u.GetUsageCoreNanoSeconds().GetValue() > cpu["usage_usec"]*1000 {
		t.Errorf("cpu %d ns after cpu.stat said %d µs", u.GetUsageCoreNanoSeconds().GetValue(), cpu["usage_usec"])
	}
	if a := m.GetAvailableBytes().GetValue(); a == 0 || a > 64<<20 {
		t.Errorf("available %d in a 64 MiB container", a)
	}
	pods, err := s.rt.ListPodSandboxStats(ctx(t, time.Minute), &runtimeapi.ListPodSandboxStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range pods.GetStats() {
		if p.GetAttributes().GetId() != s.pod {
			continue
		}
		found = true
		l := p.GetLinux()
		if l.GetMemory().GetWorkingSetBytes().GetValue() < m.GetWorkingSetBytes().GetValue()/2 || l.GetCpu().GetUsageCoreNanoSeconds().GetValue() < u.GetUsageCoreNanoSeconds().GetValue() {
			t.Errorf("pod stats %v below its container's %v", l, resp.GetStats())
		}
		if l.GetProcess().GetProcessCount().GetValue() == 0 {
			t.Errorf("pod stats count no process")
		}
		ids := map[string]bool{}
		for _, cs := range l.GetContainers() {
			ids[cs.GetAttributes().GetId()] = true
		}
		if !ids[c.id] {
			t.Errorf("pod stats lack container %s", c.id)
		}
		t.Logf("pod stats: working set %d, cpu %d ns, %d processes, %d containers", l.GetMemory().GetWorkingSetBytes().GetValue(), l.GetCpu().GetUsageCoreNanoSeconds().GetValue(), l.GetProcess().GetProcessCount().GetValue(), len(l.GetContainers()))
	}
	if !found {
		t.Errorf("ListPodSandboxStats lacks pod %s", s.pod)
	}
}

func keyedOne(t *testing.T, dir, file string) uint64 {
	n, err := strconv.ParseUint(read(t, dir, file), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkUnified sends every unified key a kubelet 1.37 sends on a v2 host
// (memory.oom.group always; memory.high, memory.min and memory.low with
// MemoryQoS; memory.swap.max with its swap behaviours), each applied and
// read back, then keys and values that must be refused.
func (s *suite) checkUnified(t *testing.T) {
	r := kubeletResources(64<<20, 0, 2)
	r.Unified = map[string]string{"memory.oom.group": "1", "memory.high": "50331648", "memory.min": "1048576", "memory.low": "2097152", "memory.swap.max": "0"}
	c := s.run("unified", []string{"sleep", "100000"}, r)
	dir := s.cgroupOf(t, c.id)
	expectFiles(t, dir, map[string]string{"memory.high": "50331648", "memory.min": "1048576", "memory.low": "2097152", "memory.swap.max": "0", "memory.max": "67108864"})
	expectFiles(t, appDir(dir), map[string]string{"memory.oom.group": "1"})
	_, info := s.status(t, c.id)
	if ne, ok := info["resourcesNotEnforced"]; ok {
		t.Errorf("the kubelet's keys reported not enforced: %v", ne)
	}

	before := s.containerCount(t)
	for _, bad := range []struct {
		unified map[string]string
		names   string
	}{
		{map[string]string{"memory.bogus": "1"}, `"memory.bogus"`},
		{map[string]string{"cgroup.procs": "1"}, `"cgroup.procs"`},
		{map[string]string{"cgroup.subtree_control": "+memory"}, `"cgroup.subtree_control"`},
		{map[string]string{"memory.max": "-1"}, `"memory.max"`},
		{map[string]string{"cpu.weight": "10001"}, `"cpu.weight"`},
	} {
		r := kubeletResources(64<<20, 0, 2)
		r.Unified = bad.unified
		_, err := s.create("bad", []string{"true"}, r)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), bad.names) {
			t.Errorf("unified %v: %v, want InvalidArgument naming %s", bad.unified, err, bad.names)
		}
		_, err = s.rt.UpdateContainerResources(ctx(t, time.Minute), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: c.id, Linux: r})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), bad.names) {
			t.Errorf("update with unified %v: %v, want InvalidArgument naming %s", bad.unified, err, bad.names)
		}
	}
	if after := s.containerCount(t); after != before {
		t.Errorf("%d containers before the refused requests, %d after", before, after)
	}
	expectFiles(t, dir, map[string]string{"memory.max": "67108864", "memory.high": "50331648"})
}

func (s *suite) containerCount(t *testing.T) int {
	resp, err := s.rt.ListContainers(ctx(t, time.Minute), &runtimeapi.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return len(resp.GetContainers())
}

// checkRestart SIGKILLs rktlet (its unit restarts it) and checks that the
// limits, the OOM verdicts and the stats are what they were.
func (s *suite) checkRestart(t *testing.T, c container) {
	unit := env(t, "RKTLET_UNIT")
	out, err := exec.Command("systemctl", "show", "-p", "MainPID", "--value", unit).Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	if pid <= 0 {
		t.Fatalf("%s has no main PID", unit)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st, err := s.rt.Status(ctx(t, 10*time.Second), &runtimeapi.StatusRequest{})
		ready := false
		for _, c := range st.GetStatus().GetConditions() {
			if c.GetType() == runtimeapi.RuntimeReady && c.GetStatus() {
				ready = true
			}
		}
		if err == nil && ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rktlet not ready 3 minutes after SIGKILL: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if out, _ := exec.Command("systemctl", "show", "-p", "MainPID", "--value", unit).Output(); strings.TrimSpace(string(out)) == strconv.Itoa(pid) {
		t.Fatalf("rktlet still PID %d", pid)
	}
	dir := s.cgroupOf(t, c.id)
	expectFiles(t, dir, map[string]string{"memory.max": "67108864", "cpu.max": "20000 100000"})
	for _, oc := range s.oomKilled {
		st, _ := s.status(t, oc.id)
		if st.GetExitCode() != 137 || st.GetReason() != "OOMKilled" {
			t.Errorf("%s after the restart: exit code %d reason %q, want 137 OOMKilled", oc.name, st.GetExitCode(), st.GetReason())
		}
	}
	resp, err := s.rt.ContainerStats(ctx(t, time.Minute), &runtimeapi.ContainerStatsRequest{ContainerId: c.id})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStats().GetMemory().GetWorkingSetBytes().GetValue() == 0 {
		t.Errorf("no working set after the restart: %v", resp.GetStats())
	}
	st, _ := s.status(t, c.id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("container %s is %s after the restart", c.id, st.GetState())
	}
	// A removed container's slice goes with it.
	for _, oc := range s.oomKilled {
		slice := s.cgroupOf(t, oc.id)
		if _, err := s.rt.RemoveContainer(ctx(t, 2*time.Minute), &runtimeapi.RemoveContainerRequest{ContainerId: oc.id}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(slice); !os.IsNotExist(err) {
			t.Errorf("%s's slice %s is still there after RemoveContainer (%v)", oc.name, slice, err)
		}
	}
}
