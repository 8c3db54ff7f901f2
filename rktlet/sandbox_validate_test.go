package rktlet

import (
	"errors"
	"strings"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestValidateSandboxConfigHostnameDNSPorts(t *testing.T) {
	base := func() *runtimeapi.PodSandboxConfig {
		return &runtimeapi.PodSandboxConfig{
			Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "n", Uid: "u"},
			Hostname: "web-0.pods",
			DnsConfig: &runtimeapi.DNSConfig{
				Servers: []string{"10.96.0.10", "fd00::a"}, Searches: []string{"default.svc.cluster.local"}, Options: []string{"ndots:5", "edns0"},
			},
			PortMappings: []*runtimeapi.PortMapping{{ContainerPort: 80, HostPort: 8080, HostIp: "127.0.0.1"}},
		}
	}
	if err := validateSandboxConfig(base()); err != nil {
		t.Fatalf("a kubelet's config: %v", err)
	}
	for _, tc := range []struct {
		mention string
		change  func(*runtimeapi.PodSandboxConfig)
	}{
		{"config.hostname", func(c *runtimeapi.PodSandboxConfig) { c.Hostname = "a=b" }},
		{"config.hostname", func(c *runtimeapi.PodSandboxConfig) { c.Hostname = strings.Repeat("a", 65) }},
		{"servers[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Servers = []string{"host"} }},
		{"servers[1]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Servers = []string{"1.1.1.1", "1.1.1.1,2.2.2.2"} }},
		{"searches[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Searches = []string{"a b"} }},
		{"options[0]", func(c *runtimeapi.PodSandboxConfig) { c.DnsConfig.Options = []string{`x"y`} }},
		{"protocol 101", func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].Protocol = 101 }},
		{"host_ip", func(c *runtimeapi.PodSandboxConfig) { c.PortMappings[0].HostIp = "../.." }},
		{"config.metadata.name", func(c *runtimeapi.PodSandboxConfig) { c.Metadata.Name = "a;b" }},
		{"config.log_directory", func(c *runtimeapi.PodSandboxConfig) { c.LogDirectory = "relative" }},
		{"NUL", func(c *runtimeapi.PodSandboxConfig) { c.Annotations = map[string]string{"a": "b\x00"} }},
	} {
		cfg := base()
		tc.change(cfg)
		err := validateSandboxConfig(cfg)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: %v, want InvalidArgument naming it", tc.mention, err)
		}
	}
}

func TestValidateAuth(t *testing.T) {
	if err := validateAuth(&runtimeapi.AuthConfig{Username: "u", Password: "p ü+/=", Auth: "dTpw"}); err != nil {
		t.Fatal(err)
	}
	if err := validateAuth(nil); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*runtimeapi.AuthConfig{{Auth: "\u202e\x00"}, {RegistryToken: "a\x00b"}, {Password: "a\r\nX-Injected: 1"}} {
		if err := validateAuth(a); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%v: %v", a, err)
		}
	}
}
