package cgroups

import (
	"fmt"
	"regexp"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ValidateResources refuses what no kernel would take, naming the field.
func ValidateResources(r *runtimeapi.LinuxContainerResources) error {
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
	if err := ValidateUnified(r.Unified); err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

var hugepageSize = regexp.MustCompile(`^[0-9]{1,7}[KMG]B$`)
