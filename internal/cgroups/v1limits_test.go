package cgroups

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestParseCgroupV1Mounts(t *testing.T) {
	// The test bed's mountinfo: the host's hierarchies hidden under a
	// cgroup2 mount over /sys/fs/cgroup, and its own mounts of memory and
	// cpu, rooted in its cgroup namespace.
	const mountinfo = `46 45 0:27 / /sys/fs/cgroup rw,relatime shared:6 - tmpfs tmpfs rw,mode=755
47 46 0:28 /.. /sys/fs/cgroup/cpu rw,relatime shared:7 - cgroup cgroup rw,cpu
50 46 0:31 /../../.. /sys/fs/cgroup/memory rw,relatime shared:10 - cgroup cgroup rw,memory
55 46 0:36 / /sys/fs/cgroup/systemd rw,relatime shared:15 - cgroup cgroup rw,name=systemd
64 46 0:37 / /sys/fs/cgroup rw,relatime shared:23 - cgroup2 cgroup2 rw
65 63 0:28 / /run/cgroup-v1/cpu rw,relatime shared:24 - cgroup cgroup rw,cpu
66 63 0:31 / /run/cgroup\040v1/memory rw,relatime shared:25 - cgroup cgroup rw,memory
67 46 0:32 /kubepods /sys/fs/cgroup/cpu,cpuacct rw shared:26 - cgroup cgroup rw,cpuacct,cpu
`
	got, err := parseCgroupV1Mounts(strings.NewReader(mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	want := []v1Hierarchy{
		{[]string{"cpu", "cpuacct"}, "/sys/fs/cgroup/cpu,cpuacct", "/kubepods"},
		{[]string{"memory"}, "/run/cgroup v1/memory", "/"},
		{[]string{"cpu"}, "/run/cgroup-v1/cpu", "/"},
		{[]string{"memory"}, "/sys/fs/cgroup/memory", "/../../.."},
		{[]string{"cpu"}, "/sys/fs/cgroup/cpu", "/.."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestValidateResources(t *testing.T) {
	for _, tc := range []struct {
		r     *runtimeapi.LinuxContainerResources
		field string // "" = valid
	}{
		{nil, ""},
		{&runtimeapi.LinuxContainerResources{CpuShares: 2, CpuPeriod: 100000, CpuQuota: 50000, MemoryLimitInBytes: 1 << 20, MemorySwapLimitInBytes: 1 << 20, OomScoreAdj: -997}, ""},
		{&runtimeapi.LinuxContainerResources{CpuQuota: -1}, ""},
		{&runtimeapi.LinuxContainerResources{CpuShares: -1}, "cpu_shares"},
		{&runtimeapi.LinuxContainerResources{CpuPeriod: 10}, "cpu_period"},
		{&runtimeapi.LinuxContainerResources{CpuQuota: 999}, "cpu_quota"},
		{&runtimeapi.LinuxContainerResources{MemoryLimitInBytes: -5}, "memory_limit_in_bytes"},
		{&runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 2 << 20, MemorySwapLimitInBytes: 1 << 20}, "memory_swap_limit_in_bytes"},
		{&runtimeapi.LinuxContainerResources{MemorySwapLimitInBytes: 1 << 20}, "memory_swap_limit_in_bytes"},
		{&runtimeapi.LinuxContainerResources{OomScoreAdj: 1001}, "oom_score_adj"},
		{&runtimeapi.LinuxContainerResources{CpusetCpus: "0"}, "cpuset_cpus"},
		{&runtimeapi.LinuxContainerResources{Unified: map[string]string{"memory.max": "1", "memory.oom.group": "1"}}, ""},
		{&runtimeapi.LinuxContainerResources{Unified: map[string]string{"memory.bogus": "1"}}, `unified["memory.bogus"]`},
		{&runtimeapi.LinuxContainerResources{Unified: map[string]string{"cgroup.procs": "1"}}, `unified["cgroup.procs"]`},
		{&runtimeapi.LinuxContainerResources{Unified: map[string]string{"memory.high": "lots"}}, `unified["memory.high"] = "lots"`},
		{&runtimeapi.LinuxContainerResources{HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB"}}}, ""},
		{&runtimeapi.LinuxContainerResources{HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "huge"}}}, "hugepage_limits.page_size"},
	} {
		err := ValidateResources(tc.r)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.r, err)
			}
			continue
		}
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%v: %v, want InvalidArgument naming %s", tc.r, err, tc.field)
		}
	}
}

func TestLimitFilesOrder(t *testing.T) {
	files := func(r *runtimeapi.LinuxContainerResources, current int64) []string {
		var out []string
		for _, f := range limitFiles(r, current) {
			out = append(out, f.file+"="+f.value)
		}
		return out
	}
	// Lowering memory: memory first, then memory+swap.
	got := files(&runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 16, MemorySwapLimitInBytes: 16}, 64)
	if got[0] != "memory.limit_in_bytes=16" || got[1] != "memory.memsw.limit_in_bytes=16" {
		t.Errorf("lowering: %v", got)
	}
	// Raising: memory+swap first.
	got = files(&runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 128, MemorySwapLimitInBytes: 128}, 64)
	if got[0] != "memory.memsw.limit_in_bytes=128" || got[1] != "memory.limit_in_bytes=128" {
		t.Errorf("raising: %v", got)
	}
	// Unlimited and defaults; the quota is cleared before the period
	// changes, then set.
	got = files(&runtimeapi.LinuxContainerResources{CpuQuota: 20000, CpuPeriod: 50000}, 64)
	want := []string{"memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=-1", "cpu.shares=1024", "cpu.cfs_quota_us=-1", "cpu.cfs_period_us=50000", "cpu.cfs_quota_us=20000", "pids.max=max"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Unified keys with a v1 counterpart override the standard fields.
	got = files(&runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 1 << 20, CpuQuota: 20000,
		Unified: map[string]string{"memory.max": "2097152", "memory.swap.max": "0", "cpu.max": "30000 60000", "pids.max": "64"}}, 0)
	want = []string{"memory.limit_in_bytes=2097152", "memory.memsw.limit_in_bytes=2097152", "cpu.shares=1024", "cpu.cfs_quota_us=-1", "cpu.cfs_period_us=60000", "cpu.cfs_quota_us=30000", "pids.max=64"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unified: got %v, want %v", got, want)
	}
}
