package cgroups

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCPURateFromTwoSamples(t *testing.T) {
	var c CPURates
	if r := c.rate("a", cpuSample{at: int64(time.Second), usage: 1000}); r != nil {
		t.Fatalf("first sample gave a rate %v", r)
	}
	// Half a core over one second.
	r := c.rate("a", cpuSample{at: int64(2 * time.Second), usage: 1000 + uint64(time.Second/2)})
	if r == nil || r.GetValue() != uint64(time.Second/2) {
		t.Fatalf("rate %v, want 500000000 nanocores", r)
	}
	c.Forget("a")
	if r := c.rate("a", cpuSample{at: int64(3 * time.Second), usage: 5}); r != nil {
		t.Fatalf("a forgotten key gave a rate %v", r)
	}
}

func TestCgroupStatsWithoutMemoryController(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cpu.stat"), []byte("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var s CPURates
	cpu, mem := s.Sample(dir, "x")
	if cpu.GetUsageCoreNanoSeconds().GetValue() != 1500000 || cpu.GetTimestamp() == 0 {
		t.Fatalf("cpu %+v", cpu)
	}
	if mem.GetTimestamp() == 0 || mem.GetWorkingSetBytes() != nil {
		t.Fatalf("memory %+v: a timestamp and no figures without memory.current", mem)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.current"), []byte("1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.stat"), []byte("anon 600\ninactive_file 300\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, mem = s.Sample(dir, "x")
	if mem.GetWorkingSetBytes().GetValue() != 700 || mem.GetRssBytes().GetValue() != 600 {
		t.Fatalf("memory %+v", mem)
	}
}
