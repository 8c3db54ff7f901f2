package image

import (
	"fmt"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/rktlet/rktlet/errdefs"
)

// Reference is an image reference normalized the way the kubelet and
// containerd normalize it: "busybox" is "docker.io/library/busybox:latest".
type Reference struct {
	named reference.Named
	// Tag is empty when the reference names only a digest.
	Tag    string
	Digest digest.Digest
}

// ParseReference normalizes s. A reference with neither tag nor digest gets
// the tag "latest".
func ParseReference(s string) (Reference, error) {
	if s == "" {
		return Reference{}, fmt.Errorf("image reference is empty: %w", errdefs.ErrInvalidArgument)
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("image reference %q: %v: %w", s, err, errdefs.ErrInvalidArgument)
	}
	r := Reference{named: reference.TrimNamed(named)}
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.Digest = d.Digest()
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// Repository is the full repository name, e.g. "docker.io/library/busybox".
func (r Reference) Repository() string { return r.named.Name() }

// Host is the registry host, e.g. "docker.io" or "127.0.0.1:5000".
func (r Reference) Host() string { return reference.Domain(r.named) }

// Path is the repository path within its registry, e.g. "library/busybox".
func (r Reference) Path() string { return reference.Path(r.named) }

// TagRef is "repository:tag", or "" for a digest-only reference.
func (r Reference) TagRef() string {
	if r.Tag == "" {
		return ""
	}
	return r.Repository() + ":" + r.Tag
}

// DigestRef is "repository@digest" for the given digest.
func (r Reference) DigestRef(d digest.Digest) string { return r.Repository() + "@" + d.String() }

// String is the normalized reference: the tag form when there is a tag,
// otherwise the digest form.
func (r Reference) String() string {
	if r.Tag != "" {
		if r.Digest != "" {
			return r.TagRef() + "@" + r.Digest.String()
		}
		return r.TagRef()
	}
	return r.DigestRef(r.Digest)
}
