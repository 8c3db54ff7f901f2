package rktlet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/atomicfile"
)

// nodeConfig is what the kubelet tells rktlet of its node through
// UpdateRuntimeConfig, kept in state-dir/runtime-config.json so that a
// restarted rktlet reports it before the kubelet sends it again.
type nodeConfig struct {
	mu sync.Mutex
	// path is the state file; "" keeps it in memory only (tests).
	path    string
	PodCIDR string `json:"podCIDR,omitempty"`
}

func loadNodeConfig(stateDir string) (*nodeConfig, error) {
	n := &nodeConfig{path: filepath.Join(stateDir, "runtime-config.json")}
	if err := atomicfile.RemoveStale(stateDir); err != nil {
		return n, err
	}
	b, err := os.ReadFile(n.path)
	if errors.Is(err, os.ErrNotExist) {
		return n, nil
	}
	if err != nil {
		return n, err
	}
	if err := json.Unmarshal(b, n); err != nil {
		return n, fmt.Errorf("%s: %w", n.path, err)
	}
	return n, nil
}

func (n *nodeConfig) podCIDR() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.PodCIDR
}

func (n *nodeConfig) setPodCIDR(cidr string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if cidr == n.PodCIDR {
		return nil // the kubelet resends it on every node status sync
	}
	next := nodeConfig{PodCIDR: cidr}
	if n.path != "" {
		b, err := json.Marshal(&next)
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(n.path, b, 0o600); err != nil {
			return fmt.Errorf("recording the pod CIDR: %w", err)
		}
	}
	n.PodCIDR = cidr
	return nil
}

// UpdateRuntimeConfig records the node's pod CIDR, which the kubelet sends
// once the node has one. Pod addresses come from the CNI configuration's
// IPAM, so the CIDR is recorded and reported (verbose Status), not applied:
// an operator sees at once whether the two disagree.
func (s *Service) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	cidr := req.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	if err := validatePodCIDR(cidr); err != nil {
		return nil, err
	}
	if err := s.node.setPodCIDR(cidr); err != nil {
		return nil, err
	}
	s.logger(ctx).Info("pod CIDR recorded", "podCIDR", cidr)
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}

// validatePodCIDR takes what the kubelet sends: one CIDR, or an IPv4 and an
// IPv6 one separated by a comma (dual stack), or "" for none.
func validatePodCIDR(cidr string) error {
	if cidr == "" {
		return nil
	}
	parts := strings.Split(cidr, ",")
	bad := func(why string) error {
		return fmt.Errorf("runtime_config.network_config.pod_cidr %q: %s: %w", cidr, why, errdefs.ErrInvalidArgument)
	}
	if len(parts) > 2 {
		return bad("more than two CIDRs")
	}
	var seen [2]bool
	for _, p := range parts {
		prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			return bad(fmt.Sprintf("%q is not a CIDR", p))
		}
		family := 0
		if prefix.Addr().Is6() && !prefix.Addr().Is4In6() {
			family = 1
		}
		if seen[family] {
			return bad("two CIDRs of one address family")
		}
		seen[family] = true
		if prefix.Masked() != prefix {
			return bad(fmt.Sprintf("%q has host bits set (the network is %s)", p, prefix.Masked()))
		}
	}
	return nil
}
