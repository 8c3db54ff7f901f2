package appspec

import (
	"errors"
	"strings"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestCheckNoNUL(t *testing.T) {
	ok := &runtimeapi.PodSandboxConfig{Hostname: "h", Labels: map[string]string{"a": "b"}, DnsConfig: &runtimeapi.DNSConfig{Servers: []string{"1.1.1.1"}}}
	if err := CheckNoNUL("config", ok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  *runtimeapi.PodSandboxConfig
		path string
	}{
		{&runtimeapi.PodSandboxConfig{Hostname: "a\x00b"}, "config.hostname"},
		{&runtimeapi.PodSandboxConfig{DnsConfig: &runtimeapi.DNSConfig{Servers: []string{"x", "a\x00"}}}, "config.dns_config.servers[1]"},
		{&runtimeapi.PodSandboxConfig{Labels: map[string]string{"k": "\x00"}}, `config.labels["k"]`},
		{&runtimeapi.PodSandboxConfig{Annotations: map[string]string{"k\x00": "v"}}, "config.annotations key"},
	} {
		err := CheckNoNUL("config", tc.cfg)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%v: %v, want InvalidArgument naming %s", tc.cfg, err, tc.path)
		}
	}
}
