package rktlet

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// kubeletAPIVersion is the version of the CRI the kubelet expects in
// VersionResponse.Version (the same constant the kubelet's own runtimes use).
const kubeletAPIVersion = "0.1.0"

// runtimeVersion is rktlet's version with the rkt version it found as semver
// build metadata, e.g. "0.1.0+rkt.1.30.0".
func (s *Service) runtimeVersion(ctx context.Context) string {
	v, err := s.rktVersion.Version(ctx)
	if err != nil {
		return Version + "+rkt.unavailable"
	}
	return Version + "+rkt." + v.Rkt
}

// Version reports rktlet's name and version and the CRI version it serves.
func (s *Service) Version(ctx context.Context, _ *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version:           kubeletAPIVersion,
		RuntimeName:       "rktlet",
		RuntimeVersion:    s.runtimeVersion(ctx),
		RuntimeApiVersion: "v1",
	}, nil
}
