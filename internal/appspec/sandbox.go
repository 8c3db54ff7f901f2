package appspec

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ValidateSandboxConfig refuses a pod config rkt and nspawn cannot run as
// asked, naming the field, before anything of the pod exists.
func ValidateSandboxConfig(cfg *runtimeapi.PodSandboxConfig) error {
	if cfg == nil {
		return fmt.Errorf("config is missing: %w", errdefs.ErrInvalidArgument)
	}
	if err := CheckNoNUL("config", cfg); err != nil {
		return err
	}
	md := cfg.GetMetadata()
	switch {
	case md == nil:
		return fmt.Errorf("config.metadata is missing: %w", errdefs.ErrInvalidArgument)
	case md.GetName() == "":
		return fmt.Errorf("config.metadata.name is empty: %w", errdefs.ErrInvalidArgument)
	case md.GetNamespace() == "":
		return fmt.Errorf("config.metadata.namespace is empty: %w", errdefs.ErrInvalidArgument)
	case md.GetUid() == "":
		return fmt.Errorf("config.metadata.uid is empty: %w", errdefs.ErrInvalidArgument)
	}
	// They travel in CNI_ARGS ("K=V;K=V") and on rkt's command line.
	for _, f := range []struct{ field, v string }{
		{"name", md.GetName()}, {"namespace", md.GetNamespace()}, {"uid", md.GetUid()},
	} {
		if strings.ContainsAny(f.v, ";=") || strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
			return fmt.Errorf("config.metadata.%s %q holds ';', '=' or a control character: %w", f.field, f.v, errdefs.ErrInvalidArgument)
		}
	}
	if d := cfg.GetLogDirectory(); d != "" && !filepath.IsAbs(d) {
		return fmt.Errorf("config.log_directory %q is not an absolute path: %w", d, errdefs.ErrInvalidArgument)
	}
	for _, pm := range cfg.GetPortMappings() {
		if pm.GetContainerPort() <= 0 || pm.GetContainerPort() > 65535 || pm.GetHostPort() < 0 || pm.GetHostPort() > 65535 {
			return fmt.Errorf("config.port_mappings: %d→%d is not a valid port pair: %w", pm.GetHostPort(), pm.GetContainerPort(), errdefs.ErrInvalidArgument)
		}
		if _, ok := runtimeapi.Protocol_name[int32(pm.GetProtocol())]; !ok {
			return fmt.Errorf("config.port_mappings: protocol %d is not TCP, UDP or SCTP: %w", pm.GetProtocol(), errdefs.ErrInvalidArgument)
		}
		if ip := pm.GetHostIp(); ip != "" && net.ParseIP(ip) == nil {
			return fmt.Errorf("config.port_mappings: host_ip %q is not an IP address: %w", ip, errdefs.ErrInvalidArgument)
		}
	}
	if err := validateHostnameAndDNS(cfg); err != nil {
		return err
	}
	ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if err := ValidateSysctls(cfg.GetLinux().GetSysctls(), ns.GetNetwork() == runtimeapi.NamespaceMode_NODE); err != nil {
		return err
	}
	if ns.GetIpc() == runtimeapi.NamespaceMode_NODE {
		return fmt.Errorf("config.linux.security_context.namespace_options.ipc NODE: rkt's stage1 (systemd-nspawn) always gives a pod its own IPC namespace: %w", errdefs.ErrInvalidArgument)
	}
	if ns.GetPid() == runtimeapi.NamespaceMode_NODE {
		return fmt.Errorf("config.linux.security_context.namespace_options.pid NODE: rkt's stage1 (systemd-nspawn) always gives a pod its own PID namespace: %w", errdefs.ErrInvalidArgument)
	}
	// No options, or NODE, is the host's user namespace; rktlet says so in
	// Status (runtime handler feature user_namespaces false).
	if userns := ns.GetUsernsOptions(); userns != nil && userns.GetMode() != runtimeapi.NamespaceMode_NODE {
		return fmt.Errorf("config.linux.security_context.namespace_options.userns_options mode %s: rkt's stage1-host runs pods in the host's user namespace, it cannot map IDs: %w", userns.GetMode(), errdefs.ErrInvalidArgument)
	}
	return nil
}

// hostnamePattern is what systemd-nspawn takes as a hostname: dot-separated
// labels of letters, digits and inner dashes, 64 characters at most.
var hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// validateHostnameAndDNS checks what goes to rkt's --hostname and --dns*
// flags, which nspawn and rkt would refuse only once the pod unit runs:
// servers must be IP addresses (rkt reads "host" and "none" as modes and
// splits on commas), search domains and options single words.
func validateHostnameAndDNS(cfg *runtimeapi.PodSandboxConfig) error {
	if h := cfg.GetHostname(); h != "" && (len(h) > 64 || !hostnamePattern.MatchString(h)) {
		return fmt.Errorf("config.hostname %q is not a valid hostname: %w", h, errdefs.ErrInvalidArgument)
	}
	dns := cfg.GetDnsConfig()
	for i, v := range dns.GetServers() {
		if net.ParseIP(v) == nil {
			return fmt.Errorf("config.dns_config.servers[%d] %q is not an IP address: %w", i, v, errdefs.ErrInvalidArgument)
		}
	}
	for _, list := range []struct {
		field  string
		values []string
	}{{"searches", dns.GetSearches()}, {"options", dns.GetOptions()}} {
		for i, v := range list.values {
			if v == "" || len(v) > 253 || strings.ContainsAny(v, ",\"") || strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
				return fmt.Errorf("config.dns_config.%s[%d] %q must be one word of at most 253 characters, without ',' or '\"': %w", list.field, i, v, errdefs.ErrInvalidArgument)
			}
		}
	}
	return nil
}

// SandboxParams are what the pod's command line takes from rktlet rather
// than from the pod's config.
type SandboxParams struct {
	RktPath, RktDataDir string
	// Stage1ID is the stage1 image's ID in rkt's store (image.Stage1).
	Stage1ID string
	// UUIDFile is where rkt writes the pod's UUID.
	UUIDFile    string
	SandboxID   string
	HostNetwork bool
}

// SandboxArgs is the pod unit's command line: `rkt app sandbox` with the
// pod's hostname, DNS, and its identity as annotations and labels.
func SandboxArgs(cfg *runtimeapi.PodSandboxConfig, p SandboxParams) []string {
	args := []string{
		p.RktPath,
		"--dir=" + p.RktDataDir,
		"--insecure-options=image",
		"app", "sandbox",
		"--stage1-hash=" + p.Stage1ID,
		"--uuid-file-save=" + p.UUIDFile,
		// The unit joins the pod's network namespace (NetworkNamespacePath=)
		// or stays in the node's; rkt itself sets up no network.
		"--net=host",
	}
	if h := cfg.GetHostname(); h != "" && !p.HostNetwork {
		args = append(args, "--hostname="+h)
	}
	if dns := cfg.GetDnsConfig(); dns != nil && (len(dns.GetServers()) > 0 || len(dns.GetSearches()) > 0 || len(dns.GetOptions()) > 0) {
		for _, v := range dns.GetServers() {
			args = append(args, "--dns="+v)
		}
		for _, v := range dns.GetSearches() {
			args = append(args, "--dns-search="+v)
		}
		for _, v := range dns.GetOptions() {
			args = append(args, "--dns-opt="+v)
		}
	} else {
		args = append(args, "--dns=host")
	}
	md := cfg.GetMetadata()
	for _, kv := range [][2]string{
		{"io.kubernetes.cri.sandbox-id", p.SandboxID},
		{"io.kubernetes.pod.name", md.GetName()},
		{"io.kubernetes.pod.namespace", md.GetNamespace()},
		{"io.kubernetes.pod.uid", md.GetUid()},
	} {
		args = append(args, "--user-annotation="+kv[0]+"="+kv[1])
	}
	// rkt's label flag splits on commas; labels that hold one live only in
	// rktlet's state.
	keys := make([]string, 0, len(cfg.GetLabels()))
	for k := range cfg.GetLabels() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := cfg.GetLabels()[k]
		if !strings.ContainsAny(k+v, ",=") {
			args = append(args, "--user-label="+k+"="+v)
		}
	}
	return args
}
