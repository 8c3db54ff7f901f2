//go:build e2e

package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// What a kubelet on a node it takes for cgroup v2 sends (the bed's
// /sys/fs/cgroup is cgroup2, its controllers on v1): resources.unified on
// every container, the pod CIDR, the pod's resources after a resize.

// Unified keys with a cgroup v1 counterpart are applied, the others are
// taken and reported as not enforced; UpdateContainerResources does the same.
func TestUnifiedOnCgroupV1(t *testing.T) {
	p := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "unified")
	rt, ctx := p.client, p.ctx
	resources := &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 64 << 20, CpuShares: 512,
		Unified: map[string]string{
			"memory.max": "33554432", "memory.swap.max": "0", "cpu.max": "20000 100000", "pids.max": "50",
			"memory.oom.group": "1", "memory.high": "max", "memory.min": "0", "memory.low": "8388608",
		},
	}
	id := p.run("unified", "echo ready; exec sleep 3600", "ready", func(c *runtimeapi.ContainerConfig) {
		c.Linux = &runtimeapi.LinuxContainerConfig{Resources: resources}
	})
	dirs := cgroupsOf(t, ctx, rt, id)
	check := func(want map[string]string) {
		t.Helper()
		for file, v := range want {
			ctrl := strings.SplitN(file, ".", 2)[0]
			if dirs[ctrl] == "" {
				t.Fatalf("no %s cgroup for the container: %v", ctrl, dirs)
			}
			if got := readTrimmed(t, filepath.Join(dirs[ctrl], file)); got != v {
				t.Errorf("%s = %s, want %s", file, got, v)
			}
		}
	}
	check(map[string]string{
		"memory.limit_in_bytes": "33554432", "memory.memsw.limit_in_bytes": "33554432",
		"cpu.cfs_quota_us": "20000", "cpu.cfs_period_us": "100000", "pids.max": "50",
	})
	notEnforced := func() []string {
		t.Helper()
		st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			NotEnforced []string `json:"resourcesNotEnforced"`
		}
		if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil {
			t.Fatal(err)
		}
		return info.NotEnforced
	}
	// memory.high=max and memory.min=0 ask for nothing: not listed.
	if got := strings.Join(notEnforced(), ","); got != "unified[memory.low],unified[memory.oom.group]" {
		t.Errorf("resourcesNotEnforced = %s", got)
	}

	updated := &runtimeapi.LinuxContainerResources{Unified: map[string]string{"memory.max": "max", "cpu.weight": "100", "pids.max": "max"}}
	if _, err := rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: updated}); err != nil {
		t.Fatal(err)
	}
	check(map[string]string{"memory.limit_in_bytes": "9223372036854771712", "cpu.cfs_quota_us": "-1", "pids.max": "max"})
	// The smallest cpu.shares the kubelet's shares→weight conversion turns
	// into weight 100.
	if shares := readTrimmed(t, filepath.Join(dirs["cpu"], "cpu.shares")); shares != "1012" {
		t.Errorf("cpu.shares after cpu.weight 100: %s, want 1012", shares)
	}
	if got := notEnforced(); len(got) != 0 {
		t.Errorf("resourcesNotEnforced after the update = %v", got)
	}
	for key, value := range map[string]string{"memory.bogus": "1", "cgroup.subtree_control": "+memory", "pids.max": "-5"} {
		_, err := rt.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{Unified: map[string]string{key: value}}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `unified["`+key+`"]`) {
			t.Errorf("update with unified %s=%s: %v, want InvalidArgument naming it", key, value, err)
		}
	}
	check(map[string]string{"memory.limit_in_bytes": "9223372036854771712", "pids.max": "max"})
}

// UpdateRuntimeConfig takes the node's pod CIDR and verbose Status shows it;
// one that does not parse is refused and changes nothing.
func TestUpdateRuntimeConfig(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	rt := criClient(t, socket)
	ctx := t.Context()
	update := func(cidr string) error {
		_, err := rt.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{
			RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: cidr}},
		})
		return err
	}
	podCIDR := func() string {
		st, err := rt.Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		return st.GetInfo()["podCIDR"]
	}
	before := podCIDR()
	t.Cleanup(func() { _ = update(before) })
	if err := update("10.244.7.0/24,fd00:10:244:7::/64"); err != nil {
		t.Fatal(err)
	}
	if got := podCIDR(); got != "10.244.7.0/24,fd00:10:244:7::/64" {
		t.Errorf("verbose Status podCIDR = %q", got)
	}
	for _, bad := range []string{"10.244.7.0/33", "not-a-cidr", "10.244.7.1/24"} {
		if err := update(bad); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "pod_cidr") {
			t.Errorf("pod CIDR %q: %v, want InvalidArgument naming pod_cidr", bad, err)
		}
	}
	if got := podCIDR(); got != "10.244.7.0/24,fd00:10:244:7::/64" {
		t.Errorf("a refused update changed the pod CIDR to %q", got)
	}
}

// UpdatePodSandboxResources takes a resized pod's resources and verbose
// PodSandboxStatus shows them; bad ones, or an unknown pod, are refused.
func TestUpdatePodSandboxResources(t *testing.T) {
	p := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "pod-resize")
	rt, ctx := p.client, p.ctx
	resize := &runtimeapi.UpdatePodSandboxResourcesRequest{
		PodSandboxId: p.id,
		Overhead:     &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 8 << 20},
		Resources:    &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 256 << 20, CpuShares: 204, CpuQuota: 50000, CpuPeriod: 100000},
	}
	if _, err := rt.UpdatePodSandboxResources(ctx, resize); err != nil {
		t.Fatal(err)
	}
	st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Resources struct {
			Resources struct {
				MemoryLimitInBytes string `json:"memoryLimitInBytes"`
			} `json:"resources"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil || info.Resources.Resources.MemoryLimitInBytes != "268435456" {
		t.Errorf("verbose PodSandboxStatus resources: %s (%v)", st.GetInfo()["info"], err)
	}
	bad := &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: p.id, Resources: &runtimeapi.LinuxContainerResources{Unified: map[string]string{"memory.bogus": "1"}}}
	if _, err := rt.UpdatePodSandboxResources(ctx, bad); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "memory.bogus") {
		t.Errorf("bad pod resources: %v, want InvalidArgument naming memory.bogus", err)
	}
	resize.PodSandboxId = strings.Repeat("0", 64)
	if _, err := rt.UpdatePodSandboxResources(ctx, resize); status.Code(err) != codes.NotFound {
		t.Errorf("an unknown pod: %v, want NotFound", err)
	}
}
