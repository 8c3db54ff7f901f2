// Package config holds rktlet's settings: their defaults, the command-line
// flags, the optional TOML file and the checks that refuse bad values.
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/rktlet/rktlet/internal/registrytls"
)

// DefaultFile is read when it exists and no --config was given.
const DefaultFile = "/etc/rktlet/rktlet.toml"

// Config is rktlet's effective configuration. Each field has one TOML key and
// one flag of the same name.
type Config struct {
	Socket        string   `toml:"socket" json:"socket"`
	RktPath       string   `toml:"rkt-path" json:"rkt-path"`
	RktDataDir    string   `toml:"rkt-data-dir" json:"rkt-data-dir"`
	StateDir      string   `toml:"state-dir" json:"state-dir"`
	Stage1Path    string   `toml:"stage1-path" json:"stage1-path"`
	CNIConfDir    string   `toml:"cni-conf-dir" json:"cni-conf-dir"`
	CNIPluginDirs []string `toml:"cni-plugin-dirs" json:"cni-plugin-dirs"`
	StreamAddress string   `toml:"stream-address" json:"stream-address"`
	// StreamTLSCert and StreamTLSKey, both set, make the streaming server
	// speak TLS.
	StreamTLSCert string `toml:"stream-tls-cert" json:"stream-tls-cert"`
	StreamTLSKey  string `toml:"stream-tls-key" json:"stream-tls-key"`
	LogLevel      string `toml:"log-level" json:"log-level"`
	// LogFormat is "text" (key=value) or "json".
	LogFormat string `toml:"log-format" json:"log-format"`
	// MetricsAddress is where Prometheus metrics are served (host:port,
	// /metrics); "" serves none.
	MetricsAddress string `toml:"metrics-address" json:"metrics-address"`
	// RegistryMirrors maps a registry host (as in an image reference, e.g.
	// "registry.k8s.io") to the endpoints tried in order before the registry
	// itself. An endpoint is a URL; "http://" allows plain HTTP for it alone,
	// and a path is put in front of the repository (a proxy cache's project).
	RegistryMirrors map[string][]string `toml:"registry-mirrors" json:"registry-mirrors"`
	// RegistryHosts holds TLS settings by host[:port] of a registry or a
	// mirror endpoint.
	RegistryHosts map[string]RegistryHost `toml:"registry-hosts" json:"registry-hosts"`
	// RegistryMirrorsOnly keeps pulls of a host that has mirrors off the
	// registry itself: for air-gapped nodes (and the test bed).
	RegistryMirrorsOnly bool `toml:"registry-mirrors-only" json:"registry-mirrors-only"`
}

// RegistryHost is how rktlet reaches one registry or mirror over TLS.
type RegistryHost struct {
	// CA is a PEM file of the certificates that sign the host's, trusted
	// besides the system's.
	CA string `toml:"ca" json:"ca,omitempty"`
	// ClientCert and ClientKey, PEM files, are presented to the host.
	ClientCert string `toml:"client-cert" json:"client-cert,omitempty"`
	ClientKey  string `toml:"client-key" json:"client-key,omitempty"`
	// SkipVerify accepts any certificate from the host.
	SkipVerify bool `toml:"skip-verify" json:"skip-verify,omitempty"`
}

// Default returns the settings used when neither a flag nor the file says
// otherwise.
func Default() Config {
	return Config{
		Socket:          "/run/rktlet/rktlet.sock",
		RktPath:         "/usr/bin/rkt",
		RktDataDir:      "/var/lib/rktlet/rkt",
		StateDir:        "/var/lib/rktlet/state",
		Stage1Path:      "/usr/lib/rkt/stage1-images/stage1-host.aci",
		CNIConfDir:      "/etc/cni/net.d",
		CNIPluginDirs:   []string{"/opt/cni/bin", "/usr/lib/cni"},
		StreamAddress:   "127.0.0.1:0",
		LogLevel:        "info",
		LogFormat:       "text",
		MetricsAddress:  "127.0.0.1:9778",
		RegistryMirrors: map[string][]string{},
		RegistryHosts:   map[string]RegistryHost{},
	}
}

// Load builds the effective configuration from args (without the program
// name): defaults, then the config file, then the flags that were given.
func Load(args []string, output *os.File) (Config, error) {
	cfg := Default()
	fs := flag.NewFlagSet("rktlet", flag.ContinueOnError)
	if output != nil {
		fs.SetOutput(output)
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage:
  rktlet [flags]             serve the Kubernetes CRI on --socket
  rktlet --version           rktlet's version, the rkt it would use, the CRI it serves
  rktlet config default      print a complete config file with every key at its default
  rktlet config check FILE   check a config file, naming every bad key and value

rktlet runs each pod as a systemd unit whose process is rkt app sandbox.
The README (https://github.com/rktlet/rktlet) says how to install it on a node
and point a kubelet at it. Flags override the config file (`+DefaultFile+`).

Flags:
`)
		fs.PrintDefaults()
	}
	var configFile string
	fs.StringVar(&configFile, "config", "", "path of the TOML config file (default "+DefaultFile+" when it exists)")
	flags := cfg // flag values land here, then only the ones set are copied
	fs.StringVar(&flags.Socket, "socket", cfg.Socket, "unix socket the CRI is served on")
	fs.StringVar(&flags.RktPath, "rkt-path", cfg.RktPath, "path of the rkt binary (v1.30.0)")
	fs.StringVar(&flags.RktDataDir, "rkt-data-dir", cfg.RktDataDir, "rkt's data directory (pods, images)")
	fs.StringVar(&flags.StateDir, "state-dir", cfg.StateDir, "rktlet's own state directory")
	fs.StringVar(&flags.Stage1Path, "stage1-path", cfg.Stage1Path, "path of the stage1-host image")
	fs.StringVar(&flags.CNIConfDir, "cni-conf-dir", cfg.CNIConfDir, "directory of CNI network configs")
	pluginDirs := stringList(cfg.CNIPluginDirs)
	fs.Var(&pluginDirs, "cni-plugin-dirs", "comma-separated directories searched for CNI plugins")
	fs.StringVar(&flags.StreamAddress, "stream-address", cfg.StreamAddress, "host:port of the streaming server (exec, attach, port-forward)")
	fs.StringVar(&flags.StreamTLSCert, "stream-tls-cert", cfg.StreamTLSCert, "PEM certificate of the streaming server (with --stream-tls-key: TLS)")
	fs.StringVar(&flags.StreamTLSKey, "stream-tls-key", cfg.StreamTLSKey, "PEM private key of the streaming server")
	fs.StringVar(&flags.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error")
	fs.StringVar(&flags.LogFormat, "log-format", cfg.LogFormat, "text (key=value lines) or json")
	fs.StringVar(&flags.MetricsAddress, "metrics-address", cfg.MetricsAddress, "host:port where Prometheus metrics are served (/metrics); empty: none")
	mirrors := mirrorFlag{}
	fs.BoolVar(&flags.RegistryMirrorsOnly, "registry-mirrors-only", cfg.RegistryMirrorsOnly, "pull images of a host that has mirrors only from its mirrors, never from the registry itself")
	fs.Var(&mirrors, "registry-mirror", "HOST=ENDPOINT[,ENDPOINT...]: mirrors tried for registry HOST (repeatable; http:// endpoints use plain HTTP; a path prefixes the repository)")
	registryHosts := hostFlag{}
	fs.Var(&registryHosts, "registry-host", "HOST=ca=FILE,client-cert=FILE,client-key=FILE,skip-verify=true: TLS settings for a registry or mirror host[:port] (repeatable; any subset)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	if configFile == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			configFile = DefaultFile
		}
	}
	if configFile != "" {
		if err := decodeFile(configFile, &cfg); err != nil {
			return Config{}, err
		}
	}

	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "socket":
			cfg.Socket = flags.Socket
		case "rkt-path":
			cfg.RktPath = flags.RktPath
		case "rkt-data-dir":
			cfg.RktDataDir = flags.RktDataDir
		case "state-dir":
			cfg.StateDir = flags.StateDir
		case "stage1-path":
			cfg.Stage1Path = flags.Stage1Path
		case "cni-conf-dir":
			cfg.CNIConfDir = flags.CNIConfDir
		case "cni-plugin-dirs":
			cfg.CNIPluginDirs = pluginDirs
		case "stream-address":
			cfg.StreamAddress = flags.StreamAddress
		case "stream-tls-cert":
			cfg.StreamTLSCert = flags.StreamTLSCert
		case "stream-tls-key":
			cfg.StreamTLSKey = flags.StreamTLSKey
		case "log-level":
			cfg.LogLevel = flags.LogLevel
		case "log-format":
			cfg.LogFormat = flags.LogFormat
		case "metrics-address":
			cfg.MetricsAddress = flags.MetricsAddress
		case "registry-mirrors-only":
			cfg.RegistryMirrorsOnly = flags.RegistryMirrorsOnly
		case "registry-mirror":
			// Flags name whole hosts: a host given on the command line
			// replaces that host's list from the file.
			for host, eps := range mirrors {
				cfg.RegistryMirrors[host] = eps
			}
		case "registry-host":
			for host, h := range registryHosts {
				cfg.RegistryHosts[host] = h
			}
		}
	})
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// decodeFile reads a TOML file into cfg, refusing keys rktlet does not know.
func decodeFile(path string, cfg *Config) error {
	unknown, err := decode(path, cfg)
	if err != nil {
		return err
	}
	return errors.Join(unknown...)
}

// decode reads a TOML file into cfg; unknown lists the keys rktlet does not
// know, err says why the file could not be read at all.
func decode(path string, cfg *Config) (unknown []error, err error) {
	md, err := toml.DecodeFile(path, cfg)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("config file %s: %s", path, perr.Error())
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	for _, k := range md.Undecoded() {
		unknown = append(unknown, fmt.Errorf("config file %s: unknown key %q", path, k.String()))
	}
	if cfg.RegistryMirrors == nil {
		cfg.RegistryMirrors = map[string][]string{}
	}
	if cfg.RegistryHosts == nil {
		cfg.RegistryHosts = map[string]RegistryHost{}
	}
	return unknown, nil
}

// Validate checks every setting and names the key of each bad one.
func (c *Config) Validate() error {
	return errors.Join(c.problems()...)
}

// problems lists every bad setting, each naming its key.
func (c *Config) problems() []error {
	var errs []error
	absolute := []struct{ key, value string }{
		{"socket", c.Socket},
		{"rkt-path", c.RktPath},
		{"rkt-data-dir", c.RktDataDir},
		{"state-dir", c.StateDir},
		{"stage1-path", c.Stage1Path},
		{"cni-conf-dir", c.CNIConfDir},
	}
	for _, s := range absolute {
		switch {
		case s.value == "":
			errs = append(errs, fmt.Errorf("%s: must not be empty", s.key))
		case !filepath.IsAbs(s.value):
			errs = append(errs, fmt.Errorf("%s: %q is not an absolute path", s.key, s.value))
		}
	}
	if len(c.CNIPluginDirs) == 0 {
		errs = append(errs, errors.New("cni-plugin-dirs: must name at least one directory"))
	}
	for _, d := range c.CNIPluginDirs {
		if !filepath.IsAbs(d) {
			errs = append(errs, fmt.Errorf("cni-plugin-dirs: %q is not an absolute path", d))
		}
	}
	errs = append(errs, checkAddress("stream-address", c.StreamAddress)...)
	if c.MetricsAddress != "" {
		errs = append(errs, checkAddress("metrics-address", c.MetricsAddress)...)
	}
	if (c.StreamTLSCert == "") != (c.StreamTLSKey == "") {
		errs = append(errs, errors.New("stream-tls-cert and stream-tls-key: give both or neither"))
	}
	if _, err := c.SlogLevel(); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format: %q is neither text nor json", c.LogFormat))
	}
	hosts := make([]string, 0, len(c.RegistryMirrors))
	for h := range c.RegistryMirrors {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		if err := validateMirror(h, c.RegistryMirrors[h]); err != nil {
			errs = append(errs, fmt.Errorf("registry-mirrors: %w", err))
		}
	}
	for _, h := range slices.Sorted(maps.Keys(c.RegistryHosts)) {
		for _, err := range validateRegistryHost(h, c.RegistryHosts[h]) {
			errs = append(errs, fmt.Errorf("registry-hosts.%q: %w", h, err))
		}
	}
	return errs
}

// Check reads a config file as rktlet would and lists every problem in it:
// each key rktlet does not know, then each bad value.
func Check(path string) []error {
	cfg := Default()
	unknown, err := decode(path, &cfg)
	if err != nil {
		return []error{err}
	}
	return append(unknown, cfg.problems()...)
}

// checkAddress checks a host:port to listen on, the host an IP address.
func checkAddress(key, addr string) []error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []error{fmt.Errorf("%s: %q is not host:port: %v", key, addr, err)}
	}
	var errs []error
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		errs = append(errs, fmt.Errorf("%s: %q is not an IP address", key, host))
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		errs = append(errs, fmt.Errorf("%s: bad port %q", key, port))
	}
	return errs
}

// SlogLevel maps log-level to a slog level.
func (c *Config) SlogLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("log-level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	return l, nil
}

func validateMirror(host string, endpoints []string) error {
	if host == "" || strings.ContainsAny(host, "/ ") {
		return fmt.Errorf("%q is not a registry host", host)
	}
	if len(endpoints) == 0 {
		return fmt.Errorf("%s: no endpoint", host)
	}
	for _, ep := range endpoints {
		u, err := url.Parse(ep)
		if err != nil {
			return fmt.Errorf("%s: endpoint %q: %v", host, ep, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: endpoint %q must be http://host[:port][/prefix] or https://host[:port][/prefix]", host, ep)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("%s: endpoint %q must name only a scheme, a host and a path prefix", host, ep)
		}
		p := strings.Trim(u.Path, "/")
		if p == "v2" || strings.HasPrefix(p, "v2/") {
			return fmt.Errorf("%s: endpoint %q: the path is put in front of the repository, and /v2 is the registry API's own: leave it out", host, ep)
		}
		if p != "" && !repositoryPrefix.MatchString(p) {
			return fmt.Errorf("%s: endpoint %q: path %q is not a repository prefix (lowercase components of letters, digits, '.', '_', '-')", host, ep, u.Path)
		}
	}
	return nil
}

type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = nil
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// repositoryPrefix is what a mirror endpoint's path may be: components of a
// repository name (distribution's grammar).
var repositoryPrefix = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// validateRegistryHost checks one host's TLS settings, reading the files
// as a pull would.
func validateRegistryHost(host string, h RegistryHost) []error {
	var errs []error
	if host == "" || strings.ContainsAny(host, "/ ") || strings.Contains(host, "://") {
		return []error{errors.New("not a host[:port]")}
	}
	if _, _, err := net.SplitHostPort(host); err != nil && strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		errs = append(errs, fmt.Errorf("not a host[:port]: %v", err))
	}
	for _, f := range []struct{ key, path string }{{"ca", h.CA}, {"client-cert", h.ClientCert}, {"client-key", h.ClientKey}} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			errs = append(errs, fmt.Errorf("%s: %q is not an absolute path", f.key, f.path))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if _, err := registrytls.Files(h).Config(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// hostFlag is --registry-host HOST=ca=FILE,client-cert=FILE,...
type hostFlag map[string]RegistryHost

func (m hostFlag) String() string { return strings.Join(slices.Sorted(maps.Keys(m)), " ") }

func (m hostFlag) Set(v string) error {
	host, settings, ok := strings.Cut(v, "=")
	if !ok || host == "" || settings == "" {
		return fmt.Errorf("want HOST=ca=FILE,client-cert=FILE,client-key=FILE,skip-verify=true, got %q", v)
	}
	h := m[host]
	for _, kv := range strings.Split(settings, ",") {
		key, value, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch key {
		case "ca":
			h.CA = value
		case "client-cert":
			h.ClientCert = value
		case "client-key":
			h.ClientKey = value
		case "skip-verify":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return fmt.Errorf("skip-verify=%q: want true or false", value)
			}
			h.SkipVerify = b
		default:
			return fmt.Errorf("unknown setting %q (want ca, client-cert, client-key or skip-verify)", key)
		}
	}
	m[host] = h
	return nil
}

type mirrorFlag map[string][]string

func (m mirrorFlag) String() string {
	parts := make([]string, 0, len(m))
	for h, eps := range m {
		parts = append(parts, h+"="+strings.Join(eps, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func (m mirrorFlag) Set(v string) error {
	host, eps, ok := strings.Cut(v, "=")
	if !ok || host == "" || eps == "" {
		return fmt.Errorf("want HOST=ENDPOINT[,ENDPOINT...], got %q", v)
	}
	var list stringList
	_ = list.Set(eps)
	m[host] = append(m[host], list...)
	return nil
}
