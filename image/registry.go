package image

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rktlet/rktlet/internal/registrytls"
)

// Registries is how pulls reach registries: the mirrors of each registry
// host, and TLS settings by the host[:port] of a registry or mirror.
type Registries struct {
	Mirrors map[string][]string
	// MirrorsOnly keeps pulls of a host that has mirrors off the registry.
	MirrorsOnly bool
	Hosts       map[string]HostTLS
}

// HostTLS is how one host is reached over TLS.
type HostTLS = registrytls.Files

// endpoint is one place an image may be pulled from.
type endpoint struct {
	host     string // host[:port]
	prefix   string // put in front of the repository: a mirror URL's path
	insecure bool   // plain HTTP
	tls      HostTLS
}

func (e endpoint) String() string {
	s := "https://" + e.host
	if e.insecure {
		s = "http://" + e.host
	}
	if e.prefix != "" {
		s += "/" + e.prefix
	}
	return s
}

// repository is where the endpoint keeps the repository at path.
func (e endpoint) repository(path string) string {
	if e.prefix == "" {
		return path
	}
	return e.prefix + "/" + path
}

// endpoints lists where to look for ref: its mirrors in order, then the
// registry itself unless mirrorsOnly and the host has mirrors.
func (r Registries) endpoints(ref Reference) []endpoint {
	var eps []endpoint
	for _, m := range r.Mirrors[ref.Host()] {
		u, err := url.Parse(m)
		if err != nil || u.Host == "" {
			continue
		}
		eps = append(eps, endpoint{host: u.Host, prefix: strings.Trim(u.Path, "/"), insecure: u.Scheme == "http", tls: r.Hosts[u.Host]})
	}
	if r.MirrorsOnly && len(eps) > 0 {
		return eps
	}
	host := ref.Host()
	if host == "docker.io" {
		host = "registry-1.docker.io"
	}
	settings, ok := r.Hosts[host]
	if !ok && host == "registry-1.docker.io" {
		settings = r.Hosts["docker.io"]
	}
	return append(eps, endpoint{host: host, insecure: isLoopback(host), tls: settings})
}

// isLoopback tells a registry on this machine, which may speak plain HTTP
// (as Docker and containerd allow for localhost).
func isLoopback(hostPort string) bool {
	host := hostPort
	if h, _, err := net.SplitHostPort(hostPort); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// transports builds, once per set of TLS settings, the HTTP transport
// rktlet's registry calls use. The files are read when first needed, so a
// renewed certificate is picked up by a restart of rktlet (rkt's fetch reads
// them on every pull).
type transports struct {
	mu    sync.Mutex
	cache map[HostTLS]http.RoundTripper
}

func (t *transports) get(ep endpoint) (http.RoundTripper, error) {
	if ep.tls == (HostTLS{}) {
		return remote.DefaultTransport, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if rt, ok := t.cache[ep.tls]; ok {
		return rt, nil
	}
	cfg, err := ep.tls.Config()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	if t.cache == nil {
		t.cache = map[HostTLS]http.RoundTripper{}
	}
	t.cache[ep.tls] = tr
	return tr, nil
}

// rktTLSEnv is the environment that hands the endpoint's TLS settings to
// rkt's fetcher (patch 0017: RKT_REGISTRY_TLS, JSON by host[:port]); nil
// when it has none.
func rktTLSEnv(ep endpoint) []string {
	if ep.tls == (HostTLS{}) {
		return nil
	}
	b, _ := json.Marshal(map[string]HostTLS{ep.host: ep.tls})
	return []string{"RKT_REGISTRY_TLS=" + string(b)}
}
