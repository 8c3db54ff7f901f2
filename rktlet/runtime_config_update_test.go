package rktlet

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestValidatePodCIDR(t *testing.T) {
	for _, ok := range []string{"", "10.244.0.0/24", "fd00:10::/64", "10.244.1.0/24,fd00:10:1::/64"} {
		if err := validatePodCIDR(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for bad, why := range map[string]string{
		"10.244.0.0":                "not a CIDR",
		"10.244.0.0/33":             "not a CIDR",
		"banana":                    "not a CIDR",
		"10.244.0.1/24":             "host bits",
		"10.0.0.0/24,10.1.0.0/24":   "one address family",
		"10.0.0.0/24,fd00::/64,a/1": "more than two",
		"10.244.0.0/24,":            "not a CIDR",
		"10.244.0.0/24\x00":         "not a CIDR",
	} {
		err := validatePodCIDR(bad)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "pod_cidr") {
			t.Errorf("%q: %v, want InvalidArgument naming pod_cidr: %s", bad, err, why)
		}
	}
}

func TestUpdateRuntimeConfigRecordsThePodCIDR(t *testing.T) {
	cfg := statusFixture(t)
	s := New(Deps{Config: cfg, Log: quiet, Systemd: fakeSystemd{}, Rkt: &fakeRkt{}, Network: fakeNetwork{}})
	update := func(cidr string) error {
		_, err := s.UpdateRuntimeConfig(context.Background(), &runtimeapi.UpdateRuntimeConfigRequest{
			RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: cidr}},
		})
		return err
	}
	if err := update("10.88.0.0/16"); err != nil {
		t.Fatal(err)
	}
	if err := update("10.88.0.0/33"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("a bad CIDR: %v", err)
	}
	resp, err := s.Status(context.Background(), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetInfo()["podCIDR"]; got != "10.88.0.0/16" {
		t.Fatalf("verbose Status podCIDR = %q (a refused update must not change it)", got)
	}
	// A restarted rktlet reports it before the kubelet sends it again.
	s = New(Deps{Config: cfg, Log: quiet, Systemd: fakeSystemd{}, Rkt: &fakeRkt{}, Network: fakeNetwork{}})
	if got := s.node.podCIDR(); got != "10.88.0.0/16" {
		t.Fatalf("after a restart: %q", got)
	}
}
