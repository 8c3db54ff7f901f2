package rktlet

import (
	"strconv"
	"strings"
	"time"

	"github.com/rktlet/rktlet/internal/cgroups"
	"github.com/rktlet/rktlet/internal/store"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// appState is what stage1's files say of an app.
type appState struct {
	state      runtimeapi.ContainerState
	startedAt  int64
	finishedAt int64
	exitCode   int32
	reason     string
	message    string
}

// exitCodeGrace bounds how long an exit file the reaper created stays
// empty in a running pod before the exit counts as one without a code: the
// reaper asks the pod's systemd twice before it writes, which takes seconds
// on a busy or slow host (a VM under emulation took more than one).
const exitCodeGrace = 30 * time.Second

// readAppState derives a container's state from stage1's files and, for a
// started app whose pod is no longer running, from the pod's state.
func (s *Service) readAppState(c *store.Container, sb *store.Sandbox) appState {
	st := appState{state: runtimeapi.ContainerState_CONTAINER_UNKNOWN}
	if sb == nil {
		st.state, st.reason, st.message = runtimeapi.ContainerState_CONTAINER_EXITED, "Error", "the container's pod sandbox is gone"
		st.exitCode = -1
		return st
	}
	files, err := s.pods.App(sb.RktUUID, c.App)
	if err != nil {
		st.message = err.Error()
		return st
	}
	if c.StartError != "" {
		// Exit code 128, as containerd reports a start that failed.
		st.state, st.exitCode, st.reason, st.message = runtimeapi.ContainerState_CONTAINER_EXITED, 128, "StartError", c.StartError
		st.finishedAt = c.StartFailedAt
		if files.HasStarted {
			st.startedAt = files.Started.ModTime.UnixNano()
		}
		return st
	}
	if c.Phase == store.PhaseCreated {
		st.state = runtimeapi.ContainerState_CONTAINER_CREATED
	}
	if !files.HasStarted {
		if sb.State != runtimeapi.PodSandboxState_SANDBOX_READY && c.Phase == store.PhaseCreated {
			// Never started, and its pod is gone: it never will.
			st.state, st.reason, st.message = runtimeapi.ContainerState_CONTAINER_EXITED, "Error", "the pod sandbox stopped before the container started"
			st.exitCode = -1
		}
		return st
	}
	st.state = runtimeapi.ContainerState_CONTAINER_RUNNING
	st.startedAt = files.Started.ModTime.UnixNano()
	exited := files.Exited
	if !files.HasExited {
		if sb.State != runtimeapi.PodSandboxState_SANDBOX_READY {
			// The pod stopped under it: its processes were killed.
			st.state, st.exitCode, st.reason = runtimeapi.ContainerState_CONTAINER_EXITED, 137, "Error"
			st.message = "the pod sandbox stopped"
			st.finishedAt = time.Now().UnixNano()
		}
		return st
	}
	if strings.TrimSpace(exited.Content) == "" && sb.State == runtimeapi.PodSandboxState_SANDBOX_READY && time.Since(exited.ModTime) < exitCodeGrace {
		// The reaper created the file and has yet to write the code: an
		// exit code reported now would change once it has.
		return st
	}
	st.state = runtimeapi.ContainerState_CONTAINER_EXITED
	st.finishedAt = exited.ModTime.UnixNano()
	st.exitCode = 1 // stage1 may die before writing the code, as rkt assumes
	if code, err := strconv.Atoi(strings.TrimSpace(exited.Content)); err == nil {
		st.exitCode = int32(code)
	}
	switch {
	case st.exitCode == 0:
		st.reason = "Completed"
	case s.limits.OOMKilled(cgroupPod(sb), c.ID, c.App, c.CgroupsV1):
		st.reason = "OOMKilled"
	default:
		st.reason = "Error"
	}
	return st
}

// appName is the rkt app name of a container: derived from its ID, since
// rkt app names are lowercase and the CRI's names are not (the 2017 rktlet
// lowercased them and FooBar collided with foobar).
func appName(containerID string) string { return cgroups.AppNamePrefix + containerID[:20] }
