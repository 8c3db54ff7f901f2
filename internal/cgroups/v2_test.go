package cgroups

import (
	"reflect"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func sliceSettings(l SystemdLimits) map[string]string {
	m := map[string]string{}
	for _, s := range l.Slice {
		m[s.Key] = s.Value
	}
	return m
}

func TestForSystemd(t *testing.T) {
	for _, tc := range []struct {
		name        string
		r           *runtimeapi.LinuxContainerResources
		want        map[string]string // slice settings that must have these values
		oomPolicy   string
		notEnforced []string
	}{
		{
			name: "nothing asked: every limit lifted",
			r:    nil,
			want: map[string]string{"MemoryMax": "infinity", "MemoryHigh": "infinity", "MemoryLow": "0", "MemoryMin": "0",
				"MemorySwapMax": "infinity", "CPUWeight": "100", "TasksMax": "infinity", "IOWeight": "", "CPUQuota": "", "CPUQuotaPeriodSec": "100000us"},
			oomPolicy: "continue",
		},
		{
			// What the kubelet 1.37 sends for 64Mi and 200m on a v2 host.
			name: "kubelet limits",
			r: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20, CpuQuota: 20000, CpuPeriod: 100000, CpuShares: 204,
				Unified: map[string]string{"memory.oom.group": "1", "memory.high": "max"}},
			// 204 shares are weight 29 in the conversion runc and the
			// kubelet share (opencontainers/cgroups: a quadratic fit through
			// 2 → 1, 1024 → 100, 262144 → 10000).
			want:      map[string]string{"MemoryMax": "67108864", "MemoryHigh": "infinity", "CPUWeight": "29", "CPUQuota": "20.00%", "CPUQuotaPeriodSec": "100000us"},
			oomPolicy: "kill",
		},
		{
			name:      "odd quota keeps its hundredths",
			r:         &runtimeapi.LinuxContainerResources{CpuQuota: 33333, CpuPeriod: 100000},
			want:      map[string]string{"CPUQuota": "33.33%"},
			oomPolicy: "continue",
		},
		{
			name:      "swap counts memory plus swap",
			r:         &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 100, MemorySwapLimitInBytes: 150},
			want:      map[string]string{"MemoryMax": "100", "MemorySwapMax": "50"},
			oomPolicy: "continue",
		},
		{
			name: "unified keys override the fields",
			r: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 100, CpuShares: 1024, CpuQuota: 50000,
				Unified: map[string]string{"memory.max": "200", "memory.low": "10", "memory.min": "5", "memory.high": "150",
					"memory.swap.max": "0", "cpu.weight": "42", "cpu.max": "max 50000", "pids.max": "64", "io.weight": "default 300"}},
			want: map[string]string{"MemoryMax": "200", "MemoryLow": "10", "MemoryMin": "5", "MemoryHigh": "150",
				"MemorySwapMax": "0", "CPUWeight": "42", "CPUQuota": "", "CPUQuotaPeriodSec": "50000us", "TasksMax": "64", "IOWeight": "300"},
			oomPolicy: "continue",
		},
		{
			name: "what systemd cannot set is listed",
			r: &runtimeapi.LinuxContainerResources{
				HugepageLimits: []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 0}, {PageSize: "1GB", Limit: 1 << 30}},
				Unified:        map[string]string{"io.max": "8:0 rbps=1", "cpu.idle": "0", "memory.zswap.max": "max", "io.weight": "8:0 100"}},
			want:        map[string]string{"IOWeight": ""},
			oomPolicy:   "continue",
			notEnforced: []string{"hugepage_limits[1GB] (systemd manages no hugetlb controller)", "unified[io.max]", "unified[io.weight] (per-device weights)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ForSystemd(tc.r)
			got := sliceSettings(l)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s=%q, want %q (all: %v)", k, got[k], v, l.Slice)
				}
			}
			if len(l.Slice) != 10 {
				t.Errorf("%d slice settings, want every one of the 10 so that a change can lift a limit", len(l.Slice))
			}
			if want := []Setting{{"OOMPolicy", tc.oomPolicy}, {"TasksMax", "infinity"}}; !reflect.DeepEqual(l.Service, want) {
				t.Errorf("service %v, want %v", l.Service, want)
			}
			if !reflect.DeepEqual(l.NotEnforced, tc.notEnforced) {
				t.Errorf("not enforced %q, want %q", l.NotEnforced, tc.notEnforced)
			}
		})
	}
}

func TestUnitFiles(t *testing.T) {
	l := ForSystemd(&runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 1 << 20, Unified: map[string]string{"memory.oom.group": "1"}})
	slice := sliceUnit("ctr-x", l)
	for _, want := range []string{"[Slice]\n", "MemoryMax=1048576\n", "DefaultDependencies=no\n"} {
		if !strings.Contains(slice, want) {
			t.Errorf("slice unit lacks %q:\n%s", want, slice)
		}
	}
	dropIn := serviceDropIn("ctr-x", l)
	for _, want := range []string{"[Service]\n", "Slice=ctr-x.slice\n", "OOMPolicy=kill\n", "TasksMax=infinity\n"} {
		if !strings.Contains(dropIn, want) {
			t.Errorf("drop-in lacks %q:\n%s", want, dropIn)
		}
	}
}
