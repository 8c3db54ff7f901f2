// Package cgroups checks the cgroup settings a CRI client asks for and
// translates them into the files of the host's cgroup hierarchies.
package cgroups

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalid marks a setting no kernel would take, or one a container may
// not set; the caller maps it to InvalidArgument.
var ErrInvalid = errors.New("invalid cgroup setting")

// A unified key is a cgroup v2 interface file of the container's own cgroup,
// written as is on a v2 host. Only the files below are taken: cgroup.* core
// files belong to the runtime (cgroup.procs moves processes, cgroup.subtree_control
// decides delegation), and a file nobody here knows cannot be checked.
type unifiedKey struct {
	check func(string) error
}

var unifiedKeys = map[string]unifiedKey{
	"memory.max":         {bytesOrMax},
	"memory.high":        {bytesOrMax},
	"memory.low":         {bytesOrMax},
	"memory.min":         {bytesOrMax},
	"memory.swap.max":    {bytesOrMax},
	"memory.swap.high":   {bytesOrMax},
	"memory.zswap.max":   {bytesOrMax},
	"memory.oom.group":   {boolean},
	"cpu.weight":         {intRange(1, 10000)},
	"cpu.weight.nice":    {intRange(-20, 19)},
	"cpu.max":            {cpuMax},
	"cpu.max.burst":      {uintValue},
	"cpu.idle":           {boolean},
	"cpu.uclamp.min":     {percentOrMax},
	"cpu.uclamp.max":     {percentOrMax},
	"pids.max":           {uintOrMax},
	"io.weight":          {ioWeight},
	"io.bfq.weight":      {ioWeight},
	"io.max":             {ioMax},
	"io.latency":         {ioLatency},
	"hugetlb.*.max":      {bytesOrMax},
	"hugetlb.*.rsvd.max": {bytesOrMax},
}

// hugetlbKey matches hugetlb.<page size>.max and hugetlb.<page size>.rsvd.max.
var hugetlbKey = regexp.MustCompile(`^hugetlb\.([0-9]+[KMG]B)\.(max|rsvd\.max)$`)

// keySpec finds a unified key's checks.
func keySpec(key string) (unifiedKey, bool) {
	if m := hugetlbKey.FindStringSubmatch(key); m != nil {
		k, ok := unifiedKeys["hugetlb.*."+m[2]]
		return k, ok
	}
	if strings.Contains(key, "*") {
		return unifiedKey{}, false
	}
	k, ok := unifiedKeys[key]
	return k, ok
}

// ValidateUnified checks every key and value of a CRI unified map, naming
// the first bad one (in key order, so that the answer does not vary).
func ValidateUnified(unified map[string]string) error {
	keys := make([]string, 0, len(unified))
	for k := range unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := unified[k]
		spec, ok := keySpec(k)
		switch {
		case strings.HasPrefix(k, "cgroup."):
			return fmt.Errorf("resources.unified[%q]: a cgroup core file, which only the runtime may write: %w", k, ErrInvalid)
		case strings.HasPrefix(k, "cpuset."):
			return fmt.Errorf("resources.unified[%q]: CPU and memory-node pinning is not supported by rktlet: %w", k, ErrInvalid)
		case !ok:
			return fmt.Errorf("resources.unified[%q]: not a cgroup v2 file a container's limits can be set in: %w", k, ErrInvalid)
		}
		if err := spec.check(strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("resources.unified[%q] = %q: %v: %w", k, v, err, ErrInvalid)
		}
	}
	return nil
}

func parseUint(s string) (uint64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a non-negative integer")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("out of range")
	}
	return v, nil
}

func uintValue(s string) error {
	_, err := parseUint(s)
	return err
}

func uintOrMax(s string) error {
	if s == "max" {
		return nil
	}
	_, err := parseUint(s)
	return err
}

// maxBytes is the largest byte count the kernel's page counters take
// (PAGE_COUNTER_MAX pages of 4 KiB, rounded down to a signed 64-bit count).
const maxBytes = 1<<63 - 1

func bytesOrMax(s string) error {
	if s == "max" {
		return nil
	}
	v, err := parseUint(s)
	if err != nil {
		return fmt.Errorf("%w (a byte count or \"max\")", err)
	}
	if v > maxBytes {
		return errors.New("above the largest byte count the kernel takes")
	}
	return nil
}

func boolean(s string) error {
	if s != "0" && s != "1" {
		return errors.New("neither 0 nor 1")
	}
	return nil
}

func intRange(lo, hi int64) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < lo || v > hi {
			return fmt.Errorf("not an integer between %d and %d", lo, hi)
		}
		return nil
	}
}

// CPU bandwidth bounds, as the kernel checks them (µs).
const (
	minCPUPeriod = 1000
	maxCPUPeriod = 1000000
	minCPUQuota  = 1000
)

// ParseCPUMax reads cpu.max, "<quota|max> [<period>]": quota -1 for max,
// period 0 when left out.
func ParseCPUMax(s string) (quota, period int64, err error) {
	f := strings.Fields(s)
	if len(f) < 1 || len(f) > 2 {
		return 0, 0, errors.New(`not "<quota|max> [<period>]"`)
	}
	quota = -1
	if f[0] != "max" {
		q, err := parseUint(f[0])
		if err != nil || q < minCPUQuota || q > 1<<44 {
			return 0, 0, fmt.Errorf("quota %q: not \"max\" or at least %d µs", f[0], minCPUQuota)
		}
		quota = int64(q)
	}
	if len(f) == 2 {
		p, err := parseUint(f[1])
		if err != nil || p < minCPUPeriod || p > maxCPUPeriod {
			return 0, 0, fmt.Errorf("period %q: not between %d and %d µs", f[1], minCPUPeriod, maxCPUPeriod)
		}
		period = int64(p)
	}
	return quota, period, nil
}

func cpuMax(s string) error {
	_, _, err := ParseCPUMax(s)
	return err
}

// percentOrMax: cpu.uclamp.*, a percentage with at most two decimals, or max.
var percent = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,2})?$`)

func percentOrMax(s string) error {
	if s == "max" {
		return nil
	}
	if !percent.MatchString(s) {
		return errors.New(`not a percentage like "12.50" or "max"`)
	}
	if v, _ := strconv.ParseFloat(s, 64); v > 100 {
		return errors.New("above 100")
	}
	return nil
}

var device = regexp.MustCompile(`^[0-9]+:[0-9]+$`)

// ioWeight: "[default] <weight>" or "<major>:<minor> <weight>", one a line.
func ioWeight(s string) error {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		w := ""
		switch {
		case len(f) == 1:
			w = f[0]
		case len(f) == 2 && (f[0] == "default" || device.MatchString(f[0])):
			w = f[1]
		default:
			return errors.New(`not "[default|<major>:<minor>] <weight>"`)
		}
		if err := intRange(1, 10000)(w); err != nil {
			return fmt.Errorf("weight %q: %w", w, err)
		}
	}
	return nil
}

// ioMax: "<major>:<minor> rbps=<n|max> wbps=… riops=… wiops=…", one a line.
func ioMax(s string) error {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !device.MatchString(f[0]) {
			return errors.New(`not "<major>:<minor> <limit>=<value> ..."`)
		}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "rbps", "wbps", "riops", "wiops":
			default:
				return fmt.Errorf("%q: not one of rbps, wbps, riops, wiops", k)
			}
			if err := uintOrMax(v); err != nil {
				return fmt.Errorf("%s=%q: %w", k, v, err)
			}
		}
	}
	return nil
}

// ioLatency: "<major>:<minor> target=<µs>", one a line.
func ioLatency(s string) error {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !device.MatchString(f[0]) || !strings.HasPrefix(f[1], "target=") {
			return errors.New(`not "<major>:<minor> target=<µs>"`)
		}
		if err := uintValue(strings.TrimPrefix(f[1], "target=")); err != nil {
			return fmt.Errorf("target: %w", err)
		}
	}
	return nil
}
