package image

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/atomicfile"
)

// PullTimeout bounds one pull, whatever the caller's deadline: docker2aci
// has been seen looping forever.
const PullTimeout = 10 * time.Minute

// Auth is the credentials of one pull (the CRI AuthConfig).
type Auth struct {
	Username      string
	Password      string
	Auth          string // base64 "user:password"
	IdentityToken string
	RegistryToken string
}

func (a *Auth) empty() bool {
	return a == nil || *a == Auth{}
}

// fingerprint tells credentials apart without holding them: a SHA-256 of
// every field, "" for none.
func (a *Auth) fingerprint() string {
	if a.empty() {
		return ""
	}
	h := sha256.New()
	for _, f := range []string{a.Username, a.Password, a.Auth, a.IdentityToken, a.RegistryToken} {
		fmt.Fprintf(h, "%d:%s", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// basic returns the username and password, decoding Auth if needed.
func (a *Auth) basic() (user, password string, ok bool) {
	if a == nil {
		return "", "", false
	}
	if a.Username != "" || a.Password != "" {
		return a.Username, a.Password, true
	}
	if a.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(a.Auth)
		if err == nil {
			if u, p, found := strings.Cut(string(raw), ":"); found {
				return u, p, true
			}
		}
	}
	return "", "", false
}

// resolved is what the registry says a reference points to.
type resolved struct {
	endpoint endpoint
	// repoDigest is the digest the reference points to: an index's for a
	// multi-platform image, as containerd reports it.
	repoDigest digest.Digest
	// manifest is the linux/amd64 image manifest's digest, what rkt fetches.
	manifest digest.Digest
	config   digest.Digest
	// size is the compressed size of the config and layers, for when rkt's
	// own figure is not to be had.
	size uint64
	// readConfig fetches the image's config from the registry. Pulls run
	// it alongside rkt's fetch: it is one more registry round trip that
	// rkt's fetch does not wait for.
	readConfig func() (imageConfig, error)
}

// imageConfig is what rktlet keeps of an image's config.
type imageConfig struct {
	user       string
	entrypoint []string
	cmd        []string
}

var platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// resolve asks each endpoint in turn what ref points to.
func resolve(ctx context.Context, ref Reference, eps []endpoint, auth *Auth, transports *transports) (resolved, error) {
	authenticator := authn.Anonymous
	if !auth.empty() {
		authenticator = authn.FromConfig(authn.AuthConfig{
			Username: auth.Username, Password: auth.Password, Auth: auth.Auth,
			IdentityToken: auth.IdentityToken, RegistryToken: auth.RegistryToken,
		})
	}
	var problems []string
	notFound, denied := true, false
	for _, ep := range eps {
		var opts []name.Option
		if ep.insecure {
			opts = append(opts, name.Insecure)
		}
		transport, err := transports.get(ep)
		if err != nil {
			problems = append(problems, err.Error())
			notFound = false
			continue
		}
		refStr := ep.host + "/" + ep.repository(ref.Path())
		if ref.Digest != "" {
			refStr += "@" + ref.Digest.String()
		} else {
			refStr += ":" + ref.Tag
		}
		nref, err := name.ParseReference(refStr, opts...)
		if err != nil {
			return resolved{}, fmt.Errorf("image %q at %s: %v: %w", ref, ep, err, errdefs.ErrInvalidArgument)
		}
		desc, err := remote.Get(nref, remote.WithContext(ctx), remote.WithAuth(authenticator), remote.WithPlatform(platform), remote.WithTransport(transport))
		if err != nil {
			if ctx.Err() != nil {
				return resolved{}, fmt.Errorf("resolving %q at %s: %w", ref, ep, ctx.Err())
			}
			if !isNotFound(err) {
				notFound = false
			}
			if isDenied(err) {
				denied = true
			}
			problems = append(problems, fmt.Sprintf("%s: %v", ep, err))
			continue
		}
		img, err := desc.Image()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", ep, err))
			notFound = false
			continue
		}
		manifest, err := img.Digest()
		if err != nil {
			return resolved{}, err
		}
		cfgName, err := img.ConfigName()
		if err != nil {
			return resolved{}, err
		}
		readConfig := func() (imageConfig, error) {
			cfg, err := img.ConfigFile()
			if err != nil {
				return imageConfig{}, fmt.Errorf("reading the config of %q at %s: %w", ref, ep, err)
			}
			if cfg.OS != "" && cfg.OS != platform.OS || cfg.Architecture != "" && cfg.Architecture != platform.Architecture {
				return imageConfig{}, fmt.Errorf("image %q is %s/%s, not %s/%s: %w", ref, cfg.OS, cfg.Architecture, platform.OS, platform.Architecture, errdefs.ErrFailedPrecondition)
			}
			return imageConfig{user: cfg.Config.User, entrypoint: cfg.Config.Entrypoint, cmd: cfg.Config.Cmd}, nil
		}
		var size uint64
		if m, err := img.Manifest(); err == nil {
			size = uint64(m.Config.Size)
			for _, l := range m.Layers {
				size += uint64(l.Size)
			}
		}
		return resolved{
			size:       size,
			endpoint:   ep,
			repoDigest: digest.Digest(desc.Digest.String()),
			manifest:   digest.Digest(manifest.String()),
			config:     digest.Digest(cfgName.String()),
			readConfig: readConfig,
		}, nil
	}
	kind := errdefs.ErrUnavailable
	switch {
	case denied:
		kind = errdefs.ErrPermissionDenied
	case notFound:
		kind = errdefs.ErrNotFound
	}
	return resolved{}, fmt.Errorf("pulling image %q: tried %s: %w", ref, strings.Join(problems, "; "), kind)
}

func isDenied(err error) bool {
	s := err.Error()
	return strings.Contains(s, "UNAUTHORIZED") || strings.Contains(s, "DENIED") || strings.Contains(s, "401 Unauthorized") || strings.Contains(s, "403 Forbidden")
}

func isNotFound(err error) bool {
	s := err.Error()
	return strings.Contains(s, "MANIFEST_UNKNOWN") || strings.Contains(s, "NAME_UNKNOWN") || strings.Contains(s, "404 Not Found") || strings.Contains(s, "status code 404")
}

// writeAuthDir writes rkt's docker auth config for host into a fresh
// directory only root can read; the caller removes it.
func writeAuthDir(parent, host string, auth *Auth) (string, error) {
	user, password, ok := auth.basic()
	if !ok {
		return "", fmt.Errorf("rkt's fetcher supports only username/password credentials, not identity or registry tokens: %w", errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(parent, "pull-auth-")
	if err != nil {
		return "", err
	}
	conf := map[string]any{
		"rktKind":     "dockerAuth",
		"rktVersion":  "v1",
		"registries":  []string{host},
		"credentials": map[string]string{"user": user, "password": password},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "auth.d", "pull.json"), b, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// nameURL is the docker:// URL of ref as written (tag or digest) at ep.
func nameURL(ref Reference, ep endpoint) string {
	if ref.Digest != "" {
		return "docker://" + ep.host + "/" + ep.repository(ref.Path()) + "@" + ref.Digest.String()
	}
	return "docker://" + ep.host + "/" + ep.repository(ref.Path()) + ":" + ref.Tag
}

// fetchURL is the docker:// URL of what was resolved: by manifest digest,
// so what is stored is exactly that.
func fetchURL(r resolved, path string) string {
	return "docker://" + r.endpoint.host + "/" + r.endpoint.repository(path) + "@" + r.manifest.String()
}

// errRktFetch wraps a failed rkt fetch with the endpoint tried.
func errRktFetch(ref Reference, r resolved, err error) error {
	var rerr *cli.Error
	kind := errdefs.ErrUnavailable
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("fetching %q from %s with rkt: %w", ref, r.endpoint, err)
	}
	if errors.As(err, &rerr) && (strings.Contains(rerr.Stderr, "unauthorized") || strings.Contains(rerr.Stderr, "401")) {
		kind = errdefs.ErrPermissionDenied
	}
	return fmt.Errorf("fetching %q from %s with rkt: %v: %w", ref, r.endpoint, err, kind)
}
