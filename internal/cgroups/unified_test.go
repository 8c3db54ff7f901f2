package cgroups

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	cgroupsutil "github.com/opencontainers/cgroups"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestValidateUnifiedAcceptsWhatTheKubeletSends(t *testing.T) {
	// A kubelet 1.37 on a v2 host, MemoryQoS on and off, swap, group OOM.
	for _, u := range []map[string]string{
		{"memory.oom.group": "1", "memory.high": "max"},
		{"memory.min": "0", "memory.low": "0", "memory.high": "120586240"},
		{"memory.min": "67108864", "memory.swap.max": "0"},
		{"cpu.weight": "79", "cpu.max": "20000 100000", "pids.max": "max"},
		{"cpu.max": "max", "io.weight": "default 100", "hugetlb.2MB.max": "0", "hugetlb.1GB.rsvd.max": "max"},
		{"io.max": "8:0 rbps=1048576 wiops=max", "cpu.uclamp.min": "12.50", "cpu.weight.nice": "-5"},
	} {
		if err := ValidateUnified(u); err != nil {
			t.Errorf("%v: %v", u, err)
		}
	}
}

func TestValidateUnifiedNamesTheBadKey(t *testing.T) {
	for _, c := range []struct {
		unified map[string]string
		want    string
	}{
		{map[string]string{"memory.bogus": "1"}, `"memory.bogus"`},
		{map[string]string{"cgroup.procs": "1"}, `"cgroup.procs"`},
		{map[string]string{"cgroup.subtree_control": "+memory"}, `"cgroup.subtree_control"`},
		{map[string]string{"../../memory.max": "1"}, `"../../memory.max"`},
		{map[string]string{"hugetlb.*.max": "1"}, `"hugetlb.*.max"`},
		{map[string]string{"cpuset.cpus": "0"}, "pinning"},
		{map[string]string{"memory.max": "-1"}, `"memory.max"`},
		{map[string]string{"memory.max": "1G"}, `"memory.max"`},
		{map[string]string{"memory.max": "18446744073709551616"}, "out of range"},
		{map[string]string{"memory.high": "9223372036854775808"}, "largest byte count"},
		{map[string]string{"memory.oom.group": "2"}, `"memory.oom.group"`},
		{map[string]string{"cpu.weight": "0"}, `"cpu.weight"`},
		{map[string]string{"cpu.weight": "10001"}, "between 1 and 10000"},
		{map[string]string{"cpu.max": "500 100000"}, "quota"},
		{map[string]string{"cpu.max": "max 10"}, "period"},
		{map[string]string{"cpu.max": "1 2 3"}, `"cpu.max"`},
		{map[string]string{"pids.max": "lots"}, `"pids.max"`},
		{map[string]string{"cpu.uclamp.max": "101"}, "above 100"},
		{map[string]string{"io.max": "8:0 xbps=1"}, "xbps"},
		{map[string]string{"io.weight": "sda 100"}, `"io.weight"`},
	} {
		err := ValidateUnified(c.unified)
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an ErrInvalid naming %s", c.unified, err, c.want)
		}
	}
}

func TestValidateUnifiedNamesTheFirstKeyInOrder(t *testing.T) {
	u := map[string]string{"zz.bogus": "1", "aa.bogus": "1", "memory.max": "x"}
	for i := 0; i < 20; i++ {
		if err := ValidateUnified(u); err == nil || !strings.Contains(err.Error(), `"aa.bogus"`) {
			t.Fatalf("got %v", err)
		}
	}
}

func TestForV1(t *testing.T) {
	mib := int64(1 << 20)
	l := ForV1(&runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 64 * mib, CpuShares: 512, CpuQuota: 20000, CpuPeriod: 100000,
		HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 0}, {PageSize: "1GB", Limit: 1 << 30}},
		Unified: map[string]string{
			"memory.swap.max": "0", "memory.high": "max", "memory.min": "0",
			"memory.oom.group": "1", "memory.low": "1048576", "pids.max": "100",
		},
	})
	want := V1Limits{Memory: 64 * mib, MemorySwap: 64 * mib, CPUShares: 512, CPUQuota: 20000, CPUPeriod: 100000, Pids: 100,
		NotEnforced: []string{"hugepage_limits[1GB]", "unified[memory.low]", "unified[memory.oom.group]"}}
	if strings.Join(l.NotEnforced, ",") != strings.Join(want.NotEnforced, ",") {
		t.Errorf("not enforced: got %v, want %v", l.NotEnforced, want.NotEnforced)
	}
	l.NotEnforced, want.NotEnforced = nil, nil
	if !reflect.DeepEqual(l, want) {
		t.Errorf("got %+v, want %+v", l, want)
	}
}

func TestForV1UnifiedOverridesStandardFields(t *testing.T) {
	l := ForV1(&runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 1 << 30, CpuShares: 2, CpuQuota: 50000,
		Unified: map[string]string{"memory.max": "max", "cpu.max": "max 50000", "cpu.weight": "100"},
	})
	if l.Memory != -1 || l.CPUQuota != -1 || l.CPUPeriod != 50000 || cgroupsutil.ConvertCPUSharesToCgroupV2Value(uint64(l.CPUShares)) != 100 {
		t.Errorf("got %+v", l)
	}
	if len(l.NotEnforced) != 0 {
		t.Errorf("not enforced: %v", l.NotEnforced)
	}
	l = ForV1(&runtimeapi.LinuxContainerResources{Unified: map[string]string{"memory.swap.max": "1048576"}})
	if l.MemorySwap != -1 || len(l.NotEnforced) != 1 {
		t.Errorf("swap without a memory limit: %+v", l)
	}
	l = ForV1(nil)
	if l.Memory != -1 || l.MemorySwap != -1 || l.CPUShares != 1024 || l.CPUQuota != -1 || l.CPUPeriod != 100000 || l.Pids != -1 {
		t.Errorf("nil resources: %+v", l)
	}
}

func TestSharesForWeightInvertsTheKubeletsConversion(t *testing.T) {
	for _, shares := range []uint64{2, 3, 10, 102, 256, 512, 1024, 2048, 100000, 262144} {
		w := cgroupsutil.ConvertCPUSharesToCgroupV2Value(shares)
		back := SharesForWeight(w)
		if got := cgroupsutil.ConvertCPUSharesToCgroupV2Value(uint64(back)); got != w {
			t.Errorf("shares %d → weight %d → shares %d → weight %d", shares, w, back, got)
		}
	}
}
