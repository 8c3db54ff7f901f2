package rktlet

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rktlet/rktlet/internal/appspec"
	"github.com/rktlet/rktlet/internal/cgroups"
	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A container's life:
//
//	           CreateContainer                      StartContainer
//	(none) ───────────────────► creating ─ app added ─► CREATED ──────────────► RUNNING
//	                              │ rkt app add failed:     │ start failed           │ exits, StopContainer,
//	                              ▼ record removed          │ (StartError set,       │ or its pod stops
//	                            (none)                      │  app killed)           ▼
//	                                                        └──────────────────────► EXITED
//	                                                    (none) ◄── RemoveContainer ───┘
//
// StartContainer answers only once the app's process runs in its own root
// (container_start.go), so RUNNING is never a half-started app.
//
// Only the record (what was asked for, the rkt app's name) is rktlet's;
// CREATED, RUNNING, EXITED, the exit code and the times are read from the
// files stage1 keeps for each app in the pod (rkt/status/<app>-created,
// -started, and <app> holding the exit code), so they survive a rktlet
// restart and cost no rkt process to read.

// containerRecord is what is persisted of a container, under
// state-dir/containers/<id>.json.
type containerRecord struct {
	ID        string           `json:"id"`
	SandboxID string           `json:"sandboxID"`
	App       string           `json:"app"`
	ACI       string           `json:"aci"`
	ImageID   string           `json:"imageID"`
	Config    json.RawMessage  `json:"config"`
	CreatedAt int64            `json:"createdAt"`
	Phase     sandboxPhase     `json:"phase"`
	User      appspec.Identity `json:"user"`
	// Capabilities is the app's capability bounding set, which commands
	// entered into it get too; nil for records older than that.
	Capabilities *[]string `json:"capabilities,omitempty"`
	// NoNewPrivs says the app runs with no_new_privs (asked for, or forced
	// by stage1 for a non-root app under a seccomp filter), which commands
	// entered into it get too.
	NoNewPrivs bool `json:"noNewPrivs,omitempty"`
	// CgroupsV1 are the container's own cgroup v1 directories holding its
	// limits ("memory", "cpu" → directory), made when it starts
	// (internal/cgroups) and removed with it.
	CgroupsV1 map[string]string `json:"cgroupsV1,omitempty"`
	// Resources are the limits UpdateContainerResources set last
	// (protojson); empty: the config's.
	Resources json.RawMessage `json:"resources,omitempty"`
	// StartError is why StartContainer failed; the container is EXITED
	// (StartError) from then on, whatever stage1's files say.
	StartError    string `json:"startError,omitempty"`
	StartFailedAt int64  `json:"startFailedAt,omitempty"`
}

type container struct {
	containerRecord
	config *runtimeapi.ContainerConfig
	// updated is Resources decoded.
	updated *runtimeapi.LinuxContainerResources
}

// resources are the container's limits now.
func (c *container) resources() *runtimeapi.LinuxContainerResources {
	if c.updated != nil {
		return c.updated
	}
	return c.config.GetLinux().GetResources()
}

func (c *container) key() string    { return c.ID }
func (c *container) created() int64 { return c.CreatedAt }
func (c *container) persisted() any { return c.containerRecord }
func (c *container) clone() *container {
	n := *c
	return &n
}

// containerStore holds every container rktlet knows, keyed by ID.
type containerStore struct {
	*recordStore[*container]
}

func newContainerStore(stateDir string) *containerStore {
	return &containerStore{newRecordStore[*container](filepath.Join(stateDir, "containers"), "container")}
}

func (s *containerStore) inSandbox(sandboxID string) []*container {
	var out []*container
	for _, c := range s.list() {
		if c.SandboxID == sandboxID {
			out = append(out, c)
		}
	}
	return out
}

// load reads every record on disk.
func (s *containerStore) load() (items []*container, corrupt []error, err error) {
	return s.readAll(func(_ string, b []byte) (*container, error) {
		c := &container{}
		if err := json.Unmarshal(b, &c.containerRecord); err != nil {
			return nil, err
		}
		c.config = &runtimeapi.ContainerConfig{}
		if err := protojson.Unmarshal(c.Config, c.config); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if len(c.Resources) > 0 {
			c.updated = &runtimeapi.LinuxContainerResources{}
			if err := protojson.Unmarshal(c.Resources, c.updated); err != nil {
				return nil, fmt.Errorf("resources: %w", err)
			}
		}
		return c, nil
	})
}

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
func (s *Service) readAppState(c *container, sb *sandbox) appState {
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
	if c.Phase == phaseCreated {
		st.state = runtimeapi.ContainerState_CONTAINER_CREATED
	}
	if !files.HasStarted {
		if sb.state != runtimeapi.PodSandboxState_SANDBOX_READY && c.Phase == phaseCreated {
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
		if sb.state != runtimeapi.PodSandboxState_SANDBOX_READY {
			// The pod stopped under it: its processes were killed.
			st.state, st.exitCode, st.reason = runtimeapi.ContainerState_CONTAINER_EXITED, 137, "Error"
			st.message = "the pod sandbox stopped"
			st.finishedAt = time.Now().UnixNano()
		}
		return st
	}
	if strings.TrimSpace(exited.Content) == "" && sb.state == runtimeapi.PodSandboxState_SANDBOX_READY && time.Since(exited.ModTime) < exitCodeGrace {
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
