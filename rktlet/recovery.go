package rktlet

import (
	"context"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/store"
	"github.com/rktlet/rktlet/systemd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Recover rebuilds the sandbox index at start from rktlet's state files and
// systemd's units; nothing is taken from memory. A sandbox whose creation a
// killed rktlet left halfway is undone (the kubelet creates it again); a
// pod unit with no state file is stopped.
func (s *Service) Recover(ctx context.Context) error {
	sandboxes, corrupt, err := s.sandboxes.Load()
	if err != nil {
		return err
	}
	for _, err := range corrupt {
		s.log.Error("skipping a pod sandbox record that does not decode", "error", err)
	}
	known := map[string]bool{}
	for _, sb := range sandboxes {
		known[sb.Unit] = true
		if sb.Phase == store.PhaseCreating {
			s.log.Warn("undoing a pod whose creation was interrupted", "id", sb.ID, "pod", sandboxName(sb.Metadata()))
			if err := s.teardownSandbox(ctx, sb, teardownUndo); err != nil {
				s.log.Error("undoing an interrupted pod", "id", sb.ID, "error", err)
				// Keep it known, NOTREADY, so Remove can finish the job.
				if err := s.sandboxes.Create(sb); err != nil {
					return err
				}
			}
			continue
		}
		st, err := s.systemd.State(ctx, sb.Unit)
		if err != nil {
			return fmt.Errorf("reading the unit of sandbox %s: %w", sb.ID, err)
		}
		sb.State = sandboxStateOf(sb, st.ActiveState)
		s.sandboxes.Publish(sb)
	}
	units, err := s.systemd.ListUnits(ctx, store.UnitPrefix+"*")
	if err != nil {
		return err
	}
	for _, u := range units {
		if !known[u] {
			st, err := s.systemd.State(ctx, u)
			if err != nil || !slices.Contains(st.Environment, s.ownerMark()) {
				continue // another rktlet's
			}
			s.log.Warn("stopping a pod unit rktlet has no record of", "unit", u)
			if err := s.systemd.StopUnit(ctx, u); err != nil {
				s.log.Error("stopping an unknown pod unit", "unit", u, "error", err)
			}
			_ = s.systemd.ResetFailed(ctx, u)
		}
	}
	containers, corrupt, err := s.containers.Load()
	if err != nil {
		return err
	}
	for _, err := range corrupt {
		s.log.Error("skipping a container record that does not decode", "error", err)
	}
	for _, c := range containers {
		if _, err := s.sandboxes.Get(c.SandboxID); err != nil || c.Phase == store.PhaseCreating {
			// Its pod is gone, or rktlet died adding it (the kubelet
			// creates it again; the app, if added, goes with the pod).
			sb, _ := s.sandboxes.Get(c.SandboxID)
			if err := s.limits.Release(ctx, cgroupPod(sb), c.ID, c.App, c.CgroupsV1); err != nil {
				s.log.Warn("removing the cgroups of a container", "container", c.ID, "error", err)
			}
			_ = s.containers.Delete(c.ID)
			continue
		}
		s.containers.Publish(c)
	}
	for _, sb := range s.sandboxes.List() {
		s.followPod(sb)
		if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			s.limits.Recover(ctx, cgroupPod(sb))
		}
	}
	s.log.Info("recovered pod sandboxes", "count", len(s.sandboxes.List()), "containers", len(s.containers.List()))
	s.recovered.Store(true)
	return nil
}

// awaitsRecovery names the RuntimeService calls refused until the index of
// pods and containers is rebuilt: every call that reads or changes one.
// Version, Status, the runtime config calls and the image service answer at
// once; the kubelet retries the others on Unavailable.
var awaitsRecovery = map[string]bool{
	"RunPodSandbox": true, "StopPodSandbox": true, "RemovePodSandbox": true,
	"PodSandboxStatus": true, "ListPodSandbox": true, "UpdatePodSandboxResources": true,
	"CreateContainer": true, "StartContainer": true, "StopContainer": true,
	"RemoveContainer": true, "ListContainers": true, "ContainerStatus": true,
	"UpdateContainerResources": true, "ReopenContainerLog": true,
	"ExecSync": true, "Exec": true, "Attach": true, "PortForward": true,
	"ContainerStats": true, "ListContainerStats": true,
	"PodSandboxStats": true, "ListPodSandboxStats": true,
}

// RecoveryGate refuses a call in awaitsRecovery, by its full gRPC method
// name, until recovery is done; the interceptors ask it before the handler.
func (s *Service) RecoveryGate(fullMethod string) error {
	service, method := path.Split(fullMethod)
	if service != "/"+runtimeapi.RuntimeService_ServiceDesc.ServiceName+"/" || !awaitsRecovery[method] || s.recovered.Load() {
		return nil
	}
	return fmt.Errorf("rktlet is still reading its pods from systemd and its state files: %w", errdefs.ErrUnavailable)
}

// sandboxStateOf maps a unit's ActiveState to the sandbox state: READY only
// while the unit runs and the sandbox was fully created and not stopped.
func sandboxStateOf(sb *store.Sandbox, activeState string) runtimeapi.PodSandboxState {
	if sb.Phase == store.PhaseCreated && (activeState == "active" || activeState == "reloading") {
		return runtimeapi.PodSandboxState_SANDBOX_READY
	}
	return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
}

// WatchUnits keeps sandbox states current from systemd's signals until ctx
// ends. An event is a hint: the unit's state is read back over D-Bus before
// it is applied, because signals from a unit's start can arrive after the
// start job said it is done.
func (s *Service) WatchUnits(ctx context.Context) {
	events := make(chan systemd.UnitEvent, 256)
	go systemd.Watch(ctx, store.UnitPrefix, events, func() { s.refreshAll(ctx) })
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if sb, ok := s.sandboxes.ByUnit(ev.Unit); ok {
				s.refresh(ctx, sb.ID)
			}
		}
	}
}

func (s *Service) refreshAll(ctx context.Context) {
	for _, sb := range s.sandboxes.List() {
		s.refresh(ctx, sb.ID)
	}
}

// refresh reads one sandbox's unit state and applies it.
func (s *Service) refresh(ctx context.Context, id string) {
	sb, err := s.sandboxes.Get(id)
	if err != nil {
		return
	}
	readCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := s.systemd.State(readCtx, sb.Unit)
	if err != nil {
		s.log.Warn("reading a pod unit's state", "unit", sb.Unit, "error", err)
		return
	}
	// Applied to the item as it is now: a Run or Stop may have replaced it.
	s.sandboxes.Update(id, func(cur *store.Sandbox) *store.Sandbox {
		state := sandboxStateOf(cur, st.ActiveState)
		if state == cur.State {
			return cur
		}
		s.log.Info("pod sandbox state changed", "id", id, "unit", cur.Unit, "activeState", st.ActiveState, "result", st.Result, "state", state.String())
		updated := *cur
		updated.State = state
		return &updated
	})
}
