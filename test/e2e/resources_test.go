//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// cgroupsOf returns the container's own cgroup v1 directories, from its
// verbose status.
func cgroupsOf(t *testing.T, ctx context.Context, rt runtimeapi.RuntimeServiceClient, id string) map[string]string {
	t.Helper()
	st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		CgroupsV1 map[string]string `json:"cgroupsV1"`
	}
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil {
		t.Fatal(err)
	}
	if info.CgroupsV1["memory"] == "" || info.CgroupsV1["cpu"] == "" {
		t.Fatalf("container %s has no memory and cpu cgroups in its verbose status: %s", id, st.GetInfo()["info"])
	}
	return info.CgroupsV1
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// checkLimits compares the container's cgroup files and its status with r.
func checkLimits(t *testing.T, ctx context.Context, rt runtimeapi.RuntimeServiceClient, id string, dirs map[string]string, r *runtimeapi.LinuxContainerResources) {
	t.Helper()
	want := map[string]string{
		filepath.Join(dirs["memory"], "memory.limit_in_bytes"): strconv.FormatInt(r.MemoryLimitInBytes, 10),
		filepath.Join(dirs["cpu"], "cpu.shares"):               strconv.FormatInt(r.CpuShares, 10),
		filepath.Join(dirs["cpu"], "cpu.cfs_quota_us"):         strconv.FormatInt(r.CpuQuota, 10),
		filepath.Join(dirs["cpu"], "cpu.cfs_period_us"):        strconv.FormatInt(r.CpuPeriod, 10),
	}
	if swap := filepath.Join(dirs["memory"], "memory.memsw.limit_in_bytes"); fileExists(swap) {
		want[swap] = strconv.FormatInt(r.MemorySwapLimitInBytes, 10)
	}
	for path, v := range want {
		if got := readTrimmed(t, path); got != v {
			t.Errorf("%s = %s, want %s", path, got, v)
		}
	}
	st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.GetStatus().GetResources().GetLinux(); !proto.Equal(got, r) {
		t.Errorf("ContainerStatus resources %v, want %v", got, r)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestContainerLimitsAndOOM: memory and CPU limits land in the container's
// own cgroup v1 directories, which hold the app's processes and nothing
// else; UpdateContainerResources changes them; the OOM killer's kill is
// reported as OOMKilled/137, also after a SIGKILL of rktlet, while a
// SIGKILL by StopContainer is not; removal takes the directories away.
func TestContainerLimitsAndOOM(t *testing.T) {
	dir, err := os.MkdirTemp("", "rktlet-e2e-limits-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeDataDir(dir) })
	mirror := "--registry-mirror=registry.k8s.io=http://" + env(t, "TESTBED_REGISTRY")
	first := startInstanceIn(t, dir, mirror)
	pod := newGRPCPod(t, first.socket, "limits")
	rt, ctx := pod.client, pod.ctx

	const mi = 1 << 20
	limits := &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 64 * mi, MemorySwapLimitInBytes: 64 * mi,
		CpuShares: 512, CpuPeriod: 100000, CpuQuota: 50000, OomScoreAdj: 500,
	}
	limited := pod.run("limited", "echo ready; exec sleep 3600", "ready", func(c *runtimeapi.ContainerConfig) {
		c.Linux = &runtimeapi.LinuxContainerConfig{Resources: proto.Clone(limits).(*runtimeapi.LinuxContainerResources)}
	})
	dirs := cgroupsOf(t, ctx, rt, limited)
	checkLimits(t, ctx, rt, limited, dirs, limits)
	// The app's process, and only it, is in both directories.
	for _, ctrl := range []string{"memory", "cpu"} {
		pids := strings.Fields(readTrimmed(t, filepath.Join(dirs[ctrl], "cgroup.procs")))
		if len(pids) != 1 {
			t.Fatalf("%s cgroup of the container holds processes %v, want its sleep alone", ctrl, pids)
		}
		if comm := readTrimmed(t, "/proc/"+pids[0]+"/comm"); comm != "sleep" {
			t.Errorf("%s cgroup of the container holds %s (%s), want sleep", ctrl, pids[0], comm)
		}
		if adj := readTrimmed(t, "/proc/"+pids[0]+"/oom_score_adj"); adj != "500" {
			t.Errorf("oom_score_adj of the app: %s, want 500", adj)
		}
	}

	// An exec'd command joins them too, and the app unit's own cgroup.
	r, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: limited, Cmd: []string{"cat", "/proc/self/cgroup"}, Timeout: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, ctrl := range []string{"memory", "cpu"} {
		in := false
		for _, line := range strings.Split(string(r.GetStdout()), "\n") {
			// hierarchy-id:controllers:path
			if f := strings.SplitN(line, ":", 3); len(f) == 3 && f[1] == ctrl && filepath.Base(f[2]) == filepath.Base(dirs[ctrl]) {
				in = true
			}
		}
		if !in {
			t.Errorf("exec'd command's cgroups %q: not in the container's %s cgroup %s", r.GetStdout(), ctrl, dirs[ctrl])
		}
	}

	// Memory figures come from the container's own memory cgroup.
	stats, err := rt.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: limited})
	if err != nil {
		t.Fatal(err)
	}
	if m := stats.GetStats().GetMemory(); m.GetWorkingSetBytes().GetValue() == 0 || m.GetUsageBytes() == nil ||
		m.GetWorkingSetBytes().GetValue()+m.GetAvailableBytes().GetValue() != 64*mi {
		t.Errorf("memory stats of the limited container: %v, want a working set and available adding up to 64 MiB", m)
	}

	updated := &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 128 * mi, MemorySwapLimitInBytes: 128 * mi,
		CpuShares: 256, CpuPeriod: 50000, CpuQuota: 20000, OomScoreAdj: 500,
	}
	if _, err := rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: limited, Linux: updated}); err != nil {
		t.Fatal(err)
	}
	checkLimits(t, ctx, rt, limited, dirs, updated)
	// Bad updates change nothing.
	_, err = rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: limited, Linux: &runtimeapi.LinuxContainerResources{CpuPeriod: 10}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "cpu_period") {
		t.Errorf("update with cpu_period 10: %v, want InvalidArgument naming cpu_period", err)
	}
	_, err = rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: strings.Repeat("0", 64), Linux: updated})
	if status.Code(err) != codes.NotFound {
		t.Errorf("update of an unknown container: %v, want NotFound", err)
	}
	checkLimits(t, ctx, rt, limited, dirs, updated)

	hog, err := pod.create("hog", "dd if=/dev/zero of=/dev/null bs=32M", func(c *runtimeapi.ContainerConfig) {
		c.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 16 * mi, MemorySwapLimitInBytes: 16 * mi}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: hog}); err != nil {
		t.Fatal(err)
	}
	hogDirs := cgroupsOf(t, ctx, rt, hog)
	oomKilled := func(rt runtimeapi.RuntimeServiceClient) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: hog})
			if err != nil {
				t.Fatal(err)
			}
			s := st.GetStatus()
			if s.GetState() == runtimeapi.ContainerState_CONTAINER_EXITED {
				if s.GetExitCode() != 137 || s.GetReason() != "OOMKilled" {
					t.Fatalf("the hog exited %d, reason %q, want 137 OOMKilled", s.GetExitCode(), s.GetReason())
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hog (16 MiB limit, 32 MiB buffer) still %s after 30 s", s.GetState())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	oomKilled(rt)

	first.cmd.Process.Kill()
	<-first.exited
	first.exited <- nil
	second := startInstanceIn(t, dir, mirror)
	rt2 := criClient(t, second.socket)
	oomKilled(rt2)
	checkLimits(t, ctx, rt2, limited, dirs, updated)
	// Killed by StopContainer, not by the OOM killer: Error.
	if _, err := rt2.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: limited, Timeout: 0}); err != nil {
		t.Fatal(err)
	}
	st, err := rt2.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: limited})
	if err != nil {
		t.Fatal(err)
	}
	if s := st.GetStatus(); s.GetExitCode() != 137 || s.GetReason() != "Error" {
		t.Errorf("stopped container: exit %d reason %q, want 137 Error", s.GetExitCode(), s.GetReason())
	}
	_, err = rt2.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: limited, Linux: limits})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("update of an exited container: %v, want FailedPrecondition", err)
	}

	if _, err := rt2.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: hog}); err != nil {
		t.Fatal(err)
	}
	for _, d := range hogDirs {
		if fileExists(d) {
			t.Errorf("cgroup %s of the removed container is left", d)
		}
	}
	if _, err := rt2.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.id}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt2.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.id}); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if fileExists(d) {
			t.Errorf("cgroup %s of a container of the removed pod is left", d)
		}
	}
}
