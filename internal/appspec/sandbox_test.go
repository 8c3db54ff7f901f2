package appspec

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
	"google.golang.org/protobuf/proto"
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
	if err := ValidateSandboxConfig(base()); err != nil {
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
		err := ValidateSandboxConfig(cfg)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: %v, want InvalidArgument naming it", tc.mention, err)
		}
	}
}

func TestSandboxArgs(t *testing.T) {
	p := SandboxParams{RktPath: "/usr/bin/rkt", RktDataDir: "/var/lib/rktlet/rkt", Stage1ID: "sha512-0123", UUIDFile: "/state/x.uuid", SandboxID: "abc"}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "prod", Uid: "u1"},
		Hostname: "web-0",
		Labels:   map[string]string{"b": "2", "a": "1", "with,comma": "x"},
	}
	for _, tc := range []struct {
		name        string
		change      func(*runtimeapi.PodSandboxConfig, *SandboxParams)
		want, never []string
	}{
		{"kubelet's pod", func(*runtimeapi.PodSandboxConfig, *SandboxParams) {}, []string{
			"/usr/bin/rkt", "--dir=/var/lib/rktlet/rkt", "app", "sandbox", "--stage1-hash=sha512-0123", "--uuid-file-save=/state/x.uuid",
			"--net=host", "--hostname=web-0", "--dns=host", "--user-annotation=io.kubernetes.cri.sandbox-id=abc",
			"--user-annotation=io.kubernetes.pod.namespace=prod", "--user-label=a=1", "--user-label=b=2",
		}, []string{"--user-label=with,comma=x"}},
		{"host network keeps the node's hostname", func(_ *runtimeapi.PodSandboxConfig, p *SandboxParams) { p.HostNetwork = true },
			nil, []string{"--hostname=web-0"}},
		{"DNS config", func(c *runtimeapi.PodSandboxConfig, _ *SandboxParams) {
			c.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: []string{"svc.local"}, Options: []string{"ndots:5"}}
		}, []string{"--dns=10.96.0.10", "--dns-search=svc.local", "--dns-opt=ndots:5"}, []string{"--dns=host"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, pp := proto.Clone(cfg).(*runtimeapi.PodSandboxConfig), p
			tc.change(c, &pp)
			args := SandboxArgs(c, pp)
			for _, w := range tc.want {
				if !slices.Contains(args, w) {
					t.Errorf("%s missing from %q", w, args)
				}
			}
			for _, n := range tc.never {
				if slices.Contains(args, n) {
					t.Errorf("%s in %q", n, args)
				}
			}
			if i, j := slices.Index(args, "--user-label=a=1"), slices.Index(args, "--user-label=b=2"); i > j {
				t.Errorf("labels out of order: %q", args)
			}
		})
	}
}
