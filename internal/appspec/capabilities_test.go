package appspec

import (
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestCapabilitySet(t *testing.T) {
	sc := func(add, drop []string, privileged bool) *runtimeapi.LinuxContainerSecurityContext {
		return &runtimeapi.LinuxContainerSecurityContext{Privileged: privileged, Capabilities: &runtimeapi.Capability{AddCapabilities: add, DropCapabilities: drop}}
	}
	for _, c := range []struct {
		name  string
		sc    *runtimeapi.LinuxContainerSecurityContext
		has   []string
		hasnt []string
		n     int
	}{
		{"default", nil, []string{"CAP_CHOWN", "CAP_NET_RAW"}, []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}, len(DefaultCapabilities)},
		{"add one", sc([]string{"NET_ADMIN"}, nil, false), []string{"CAP_NET_ADMIN", "CAP_CHOWN"}, nil, len(DefaultCapabilities) + 1},
		{"drop one", sc(nil, []string{"net_raw"}, false), []string{"CAP_CHOWN"}, []string{"CAP_NET_RAW"}, len(DefaultCapabilities) - 1},
		{"add ALL", sc([]string{"ALL"}, nil, false), []string{"CAP_SYS_ADMIN"}, nil, len(linuxCapabilities)},
		{"drop ALL", sc(nil, []string{"ALL"}, false), nil, []string{"CAP_CHOWN"}, 0},
		{"drop ALL add one", sc([]string{"CAP_KILL"}, []string{"ALL"}, false), []string{"CAP_KILL"}, []string{"CAP_CHOWN"}, 1},
		{"privileged", sc(nil, []string{"ALL"}, true), []string{"CAP_SYS_ADMIN"}, nil, len(linuxCapabilities)},
	} {
		got, err := Capabilities(c.sc)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(got) != c.n {
			t.Errorf("%s: %d capabilities %v, want %d", c.name, len(got), got, c.n)
		}
		for _, h := range c.has {
			if !slices.Contains(got, h) {
				t.Errorf("%s: %s missing", c.name, h)
			}
		}
		for _, h := range c.hasnt {
			if slices.Contains(got, h) {
				t.Errorf("%s: %s present", c.name, h)
			}
		}
	}
	if _, err := Capabilities(sc([]string{"CAP_NOPE"}, nil, false)); err == nil {
		t.Error("an unknown capability was accepted")
	}
	if got := CapabilityNumbers([]string{"CAP_CHOWN", "CAP_NET_RAW", "CAP_CHECKPOINT_RESTORE"}); got != "0,13,40" {
		t.Errorf("capability numbers %q", got)
	}
}
