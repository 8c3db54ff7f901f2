package cgroups

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	cgroupsutil "github.com/opencontainers/cgroups"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// V1Limits are a container's limits as the cgroup v1 memory, cpu and pids
// controllers take them. Unlimited is -1.
type V1Limits struct {
	Memory int64 // memory.limit_in_bytes
	// MemorySwap counts memory plus swap (memory.memsw.limit_in_bytes).
	MemorySwap int64
	CPUShares  int64 // cpu.shares
	CPUQuota   int64 // cpu.cfs_quota_us
	CPUPeriod  int64 // cpu.cfs_period_us
	Pids       int64 // pids.max
	// NotEnforced names, sorted, each setting that asks for more than the
	// default and has no cgroup v1 file: it is recorded, not enforced.
	NotEnforced []string
}

// Defaults of the v1 files, as a new cgroup has them.
const (
	defaultCPUShares = 1024
	defaultCPUPeriod = 100000
)

// defaults are the values of unified keys that ask for nothing: a kubelet
// on a v2 host sends some of them to reset a setting (memory.high=max), and
// leaving them unset on v1 is the same thing.
var defaults = map[string]string{
	"memory.high":      "max",
	"memory.low":       "0",
	"memory.min":       "0",
	"memory.oom.group": "0",
	"memory.swap.high": "max",
	"memory.zswap.max": "max",
	"cpu.weight.nice":  "0",
	"cpu.idle":         "0",
	"cpu.max.burst":    "0",
	"cpu.uclamp.min":   "0",
	"cpu.uclamp.max":   "max",
	"pids.max":         "max",
}

// ForV1 turns CRI resources, checked beforehand (ValidateUnified), into v1
// limits. A unified key with a v1 counterpart overrides the standard field,
// as it does on a v2 host; the rest are listed in NotEnforced.
func ForV1(r *runtimeapi.LinuxContainerResources) V1Limits {
	l := V1Limits{Memory: -1, MemorySwap: -1, CPUShares: defaultCPUShares, CPUQuota: -1, CPUPeriod: defaultCPUPeriod, Pids: -1}
	if v := r.GetMemoryLimitInBytes(); v > 0 {
		l.Memory = v
	}
	if v := r.GetMemorySwapLimitInBytes(); v > 0 {
		l.MemorySwap = v
	}
	if v := r.GetCpuShares(); v > 0 {
		l.CPUShares = max(v, 2)
	}
	if v := r.GetCpuPeriod(); v > 0 {
		l.CPUPeriod = v
	}
	if v := r.GetCpuQuota(); v > 0 {
		l.CPUQuota = v
	}
	for _, h := range r.GetHugepageLimits() {
		if h.GetLimit() > 0 {
			l.NotEnforced = append(l.NotEnforced, fmt.Sprintf("hugepage_limits[%s]", h.GetPageSize()))
		}
	}
	u := r.GetUnified()
	if v, ok := u["memory.max"]; ok {
		l.Memory = numberOrUnlimited(v)
	}
	if v, ok := u["memory.swap.max"]; ok {
		// v1 counts memory and swap together; without a memory limit a
		// swap limit has nothing to add to.
		switch swap := numberOrUnlimited(v); {
		case swap < 0:
			l.MemorySwap = -1
		case l.Memory >= 0:
			l.MemorySwap = l.Memory + swap
		default:
			l.NotEnforced = append(l.NotEnforced, "unified[memory.swap.max] (no memory limit to add it to)")
		}
	}
	if v, ok := u["cpu.weight"]; ok {
		w, _ := strconv.ParseUint(v, 10, 64)
		l.CPUShares = SharesForWeight(w)
	}
	if v, ok := u["cpu.max"]; ok {
		quota, period, _ := ParseCPUMax(v)
		l.CPUQuota = quota
		if period > 0 {
			l.CPUPeriod = period
		}
	}
	if v, ok := u["pids.max"]; ok {
		l.Pids = numberOrUnlimited(v)
	}
	for k, v := range u {
		switch k {
		case "memory.max", "memory.swap.max", "cpu.weight", "cpu.max", "pids.max":
			continue
		}
		if d, ok := defaults[k]; ok && d == v {
			continue
		}
		l.NotEnforced = append(l.NotEnforced, "unified["+k+"]")
	}
	slices.Sort(l.NotEnforced)
	return l
}

func numberOrUnlimited(v string) int64 {
	if v == "max" {
		return -1
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > math.MaxInt64 {
		return -1
	}
	return int64(n)
}

// SharesForWeight is the smallest cpu.shares that the conversion the kubelet
// and runc use on v2 (opencontainers/cgroups) turns into at least weight: the
// v1 counterpart of a cpu.weight.
func SharesForWeight(weight uint64) int64 {
	lo, hi := uint64(2), uint64(262144)
	for lo < hi {
		mid := (lo + hi) / 2
		if cgroupsutil.ConvertCPUSharesToCgroupV2Value(mid) >= weight {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return int64(lo)
}
