package rktlet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rktlet/rktlet/internal/appspec"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Condition reasons, in the kubelet's CamelCase style.
const (
	reasonSystemdUnreachable = "SystemdUnreachable"
	reasonRktUnusable        = "RktUnusable"
	reasonStage1Unusable     = "Stage1Unusable"
	reasonNetworkNotReady    = "NetworkPluginNotReady"
	reasonRecovering         = "Recovering"
)

// statusCheckTimeout bounds the D-Bus round trip of a Status call: the kubelet
// calls Status every few seconds and a hung bus must show as not ready.
const statusCheckTimeout = 2 * time.Second

// Status reports whether rktlet can run pods (RuntimeReady) and network them
// (NetworkReady), each with a reason and a message an operator can act on.
func (s *Service) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	runtimeCond := &runtimeapi.RuntimeCondition{Type: runtimeapi.RuntimeReady, Status: true}
	if reason, msg := s.runtimeProblem(ctx); reason != "" {
		runtimeCond.Status, runtimeCond.Reason, runtimeCond.Message = false, reason, msg
	}
	networkCond := &runtimeapi.RuntimeCondition{Type: runtimeapi.NetworkReady, Status: true}
	if _, err := s.network.LoadNetwork(); err != nil {
		networkCond.Status, networkCond.Reason = false, reasonNetworkNotReady
		networkCond.Message = fmt.Sprintf("Network plugin returns error: cni config uninitialized: %v", err)
	}
	resp := &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{runtimeCond, networkCond}},
		// One handler, the default; its features are what rkt can do today.
		RuntimeHandlers: []*runtimeapi.RuntimeHandler{{
			Name:     "",
			Features: &runtimeapi.RuntimeHandlerFeatures{RecursiveReadOnlyMounts: appspec.RecursiveReadOnlySupported()},
		}},
		// Supplementary groups follow SupplementalGroupsPolicy and are
		// reported in ContainerStatus.User.
		Features: &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}
	if req.GetVerbose() {
		cfg, err := json.Marshal(s.config)
		if err != nil {
			return nil, fmt.Errorf("encoding config: %w", err)
		}
		resp.Info = map[string]string{"config": string(cfg), "podCIDR": s.node.podCIDR(), "cgroupMode": string(s.cgroupMode)}
	}
	return resp, nil
}

// runtimeProblem returns the first reason rktlet cannot run pods, or "".
func (s *Service) runtimeProblem(ctx context.Context) (reason, message string) {
	sdCtx, cancel := context.WithTimeout(ctx, statusCheckTimeout)
	defer cancel()
	if _, err := s.systemd.Version(sdCtx); err != nil {
		return reasonSystemdUnreachable, fmt.Sprintf("systemd does not answer over D-Bus (is the system bus running?): %v", err)
	}
	if _, err := s.rktVersion.Version(ctx); err != nil {
		return reasonRktUnusable, fmt.Sprintf("%v (set rkt-path to rkt v1.30.0)", err)
	}
	if err := checkStage1(s.config.Stage1Path); err != nil {
		return reasonStage1Unusable, fmt.Sprintf("%v (set stage1-path to a stage1-host image)", err)
	}
	if !s.recovered.Load() {
		// Pod and container calls answer Unavailable until then.
		return reasonRecovering, "rktlet is still reading its pods and containers from systemd and its state files"
	}
	return "", ""
}

// checkStage1 checks that the stage1 image is a readable ACI: a tar file,
// possibly gzip-compressed, without reading more than its first block.
func checkStage1(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("stage1 image %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stage1 image %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("stage1 image %s is not a regular file", path)
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("stage1 image %s: %w", path, err)
	}
	head = head[:n]
	isGzip := bytes.HasPrefix(head, []byte{0x1f, 0x8b})
	isTar := n >= 262 && bytes.Equal(head[257:262], []byte("ustar"))
	if !isGzip && !isTar {
		return fmt.Errorf("stage1 image %s is not an ACI (neither gzip nor tar)", path)
	}
	return nil
}
