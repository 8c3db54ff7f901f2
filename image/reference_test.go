package image

import (
	"errors"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
)

func TestParseReference(t *testing.T) {
	const d = "sha256:9700f9a2f5bf2c45f2f605a0bd3bce7cf37420ec9d3ed50ac2758413308766bf"
	for _, tc := range []struct{ in, repo, host, path, tag, digest, str string }{
		{"busybox", "docker.io/library/busybox", "docker.io", "library/busybox", "latest", "", "docker.io/library/busybox:latest"},
		{"busybox:1.29", "docker.io/library/busybox", "docker.io", "library/busybox", "1.29", "", "docker.io/library/busybox:1.29"},
		{"registry.k8s.io/pause:3.9", "registry.k8s.io/pause", "registry.k8s.io", "pause", "3.9", "", "registry.k8s.io/pause:3.9"},
		{"127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "latest", "", "127.0.0.1:5000/a/b:latest"},
		{"gcr.io/x/y@" + d, "gcr.io/x/y", "gcr.io", "x/y", "", d, "gcr.io/x/y@" + d},
		{"gcr.io/x/y:t@" + d, "gcr.io/x/y", "gcr.io", "x/y", "t", d, "gcr.io/x/y:t@" + d},
	} {
		r, err := ParseReference(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if r.Repository() != tc.repo || r.Host() != tc.host || r.Path() != tc.path || r.Tag != tc.tag || r.Digest.String() != tc.digest || r.String() != tc.str {
			t.Errorf("%s: got repo %q host %q path %q tag %q digest %q str %q", tc.in, r.Repository(), r.Host(), r.Path(), r.Tag, r.Digest, r)
		}
	}
}

func TestParseReferenceInvalid(t *testing.T) {
	for _, in := range []string{"", "busy box", "a:b:c", "busybox@sha256:short", "-leadingdash"} {
		_, err := ParseReference(in)
		if !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%q: got %v, want InvalidArgument", in, err)
		}
	}
}
