package rktlet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/store"
	"github.com/rktlet/rktlet/network"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StopPodSandbox stops a pod's unit and takes its network down. Stopping a
// stopped or unknown sandbox is not an error.
func (s *Service) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	sb, unlock, err := s.sandboxes.GetLocked(req.GetPodSandboxId())
	if errors.Is(err, errdefs.ErrNotFound) {
		return &runtimeapi.StopPodSandboxResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.teardownSandbox(ctx, sb, teardownStop); err != nil {
		return nil, err
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

// teardownMode says how far teardownSandbox goes.
type teardownMode int

const (
	// teardownStop stops the unit and takes the network down.
	teardownStop teardownMode = iota
	// teardownRemove also removes the rkt pod and the sandbox's state.
	teardownRemove
	// teardownUndo removes everything of a sandbox whose creation failed.
	// Its ID never reached the kubelet, so no later call could clean up
	// after it: steps that fail are logged and the rest still runs.
	teardownUndo
)

// teardownSandbox stops the unit and removes the network and, when asked,
// the rkt pod and the sandbox's state. Every step tolerates what an earlier,
// interrupted teardown already did.
func (s *Service) teardownSandbox(ctx context.Context, sb *store.Sandbox, mode teardownMode) error {
	remove := mode != teardownStop
	var errs []error
	// A pod whose apps all ended needs no network while it shuts down, so
	// the network comes down beside the unit's stop; an app still running
	// keeps it until the stop has ended the app.
	var networkDown <-chan []error
	if s.noAppRunning(sb) {
		done := make(chan []error, 1)
		go func() { done <- s.teardownNetwork(ctx, sb) }()
		networkDown = done
	}
	if err := s.systemd.StopUnit(ctx, sb.Unit); err != nil {
		errs = append(errs, err)
	}
	if err := s.systemd.ResetFailed(ctx, sb.Unit); err != nil {
		errs = append(errs, err)
	}
	if networkDown != nil {
		errs = append(errs, <-networkDown...)
	} else {
		errs = append(errs, s.teardownNetwork(ctx, sb)...)
	}
	if len(errs) > 0 {
		if mode != teardownUndo {
			return errors.Join(errs...)
		}
		s.logger(ctx).Error("undoing a pod that failed to start: some steps failed", "id", sb.ID, "error", errors.Join(errs...))
	}
	if !remove {
		_, err := s.sandboxes.Replace(sb.ID, func(next *store.Sandbox) {
			next.Phase = store.PhaseStopped
			next.NetNS = ""
			next.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
		})
		// The apps' reapers wrote their exit codes during the stop; a
		// status asked for right after must not wait for inotify to tell.
		if sb.RktUUID != "" {
			for _, c := range s.containers.InSandbox(sb.ID) {
				s.pods.SyncApp(sb.RktUUID, c.App)
			}
		}
		// The pod's journald went with the unit: its journal is whole.
		s.logs.PodStopped(sb.ID)
		return err
	}
	uuid := sb.RktUUID
	if uuid == "" {
		if b, err := os.ReadFile(s.uuidFile(sb.ID)); err == nil {
			uuid = string(b)
		}
	}
	// The pod's journal goes with the rkt pod: what its containers wrote
	// last is shipped to their log files first.
	s.logs.FinishPod(sb.ID, 5*time.Second)
	s.appCgroups.Forget(sb.Unit)
	if uuid != "" {
		s.pods.Forget(uuid)
		if err := s.rktCmd.RemovePod(ctx, uuid); err != nil {
			return fmt.Errorf("removing rkt pod %s of sandbox %s: %w", uuid, sb.ID, err)
		}
	}
	s.cpuSamples.Forget("pod:" + sb.ID)
	for _, c := range s.containers.InSandbox(sb.ID) {
		s.cpuSamples.Forget(c.ID)
		if err := s.limits.Release(ctx, cgroupPod(sb), c.ID, c.App, c.CgroupsV1); err != nil {
			return fmt.Errorf("removing the cgroups of container %s: %w", c.ID, err)
		}
		if err := s.containers.Delete(c.ID); err != nil {
			return err
		}
	}
	if err := os.Remove(s.uuidFile(sb.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return s.sandboxes.Delete(sb.ID)
}

// teardownNetwork takes the pod's CNI network and namespace down, if it has
// them.
func (s *Service) teardownNetwork(ctx context.Context, sb *store.Sandbox) []error {
	if sb.HostNetwork || (sb.NetNS == "" && sb.Phase == store.PhaseStopped) {
		return nil
	}
	var errs []error
	pod := podNetwork(sb)
	if pod.NetNS == "" {
		// Interrupted between the namespace's creation and the record
		// naming it.
		pod.NetNS = filepath.Join(network.NetNSDir, sb.NetNSName())
	}
	if err := s.network.Teardown(ctx, pod); err != nil {
		errs = append(errs, fmt.Errorf("taking down the network of pod %s: %w", sb.ID, err))
	}
	if err := network.RemoveNetNS(pod.NetNS); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// noAppRunning tells whether every container of the pod is known, from
// stage1's files, to have ended or never started.
func (s *Service) noAppRunning(sb *store.Sandbox) bool {
	for _, c := range s.containers.InSandbox(sb.ID) {
		switch s.readAppState(c, sb).state {
		case runtimeapi.ContainerState_CONTAINER_CREATED, runtimeapi.ContainerState_CONTAINER_EXITED:
		default:
			return false
		}
	}
	return true
}
