package store

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/rktlet/rktlet/internal/appspec"
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
// (rktlet/container_start.go), so RUNNING is never a half-started app.
//
// Only the record (what was asked for, the rkt app's name) is rktlet's;
// CREATED, RUNNING, EXITED, the exit code and the times are read from the
// files stage1 keeps for each app in the pod (rkt/status/<app>-created,
// -started, and <app> holding the exit code), so they survive a rktlet
// restart and cost no rkt process to read.

// ContainerRecord is what is persisted of a container, under
// state-dir/containers/<id>.json.
type ContainerRecord struct {
	ID         string           `json:"id"`
	SandboxID  string           `json:"sandboxID"`
	App        string           `json:"app"`
	ACI        string           `json:"aci"`
	ImageID    string           `json:"imageID"`
	ConfigJSON json.RawMessage  `json:"config"`
	CreatedAt  int64            `json:"createdAt"`
	Phase      Phase            `json:"phase"`
	User       appspec.Identity `json:"user"`
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
	// ResourcesJSON are the limits UpdateContainerResources set last
	// (protojson); empty: the config's.
	ResourcesJSON json.RawMessage `json:"resources,omitempty"`
	// StartError is why StartContainer failed; the container is EXITED
	// (StartError) from then on, whatever stage1's files say.
	StartError    string `json:"startError,omitempty"`
	StartFailedAt int64  `json:"startFailedAt,omitempty"`
}

// Container is a container in memory: its record, its parsed config and
// the limits UpdateContainerResources set last.
type Container struct {
	ContainerRecord
	Config *runtimeapi.ContainerConfig
	// Updated is Resources decoded.
	Updated *runtimeapi.LinuxContainerResources
}

// Resources are the container's limits now.
func (c *Container) Resources() *runtimeapi.LinuxContainerResources {
	if c.Updated != nil {
		return c.Updated
	}
	return c.Config.GetLinux().GetResources()
}

func (c *Container) Key() string    { return c.ID }
func (c *Container) Created() int64 { return c.CreatedAt }
func (c *Container) Persisted() any { return c.ContainerRecord }
func (c *Container) Clone() *Container {
	n := *c
	return &n
}

// Containers holds every container rktlet knows, keyed by ID.
type Containers struct {
	*Records[*Container]
}

func NewContainers(stateDir string) *Containers {
	return &Containers{NewRecords[*Container](filepath.Join(stateDir, "containers"), "container")}
}

func (s *Containers) InSandbox(sandboxID string) []*Container {
	var out []*Container
	for _, c := range s.List() {
		if c.SandboxID == sandboxID {
			out = append(out, c)
		}
	}
	return out
}

// Load reads every record on disk.
func (s *Containers) Load() (items []*Container, corrupt []error, err error) {
	return s.readAll(func(_ string, b []byte) (*Container, error) {
		c := &Container{}
		if err := json.Unmarshal(b, &c.ContainerRecord); err != nil {
			return nil, err
		}
		c.Config = &runtimeapi.ContainerConfig{}
		if err := protojson.Unmarshal(c.ConfigJSON, c.Config); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if len(c.ResourcesJSON) > 0 {
			c.Updated = &runtimeapi.LinuxContainerResources{}
			if err := protojson.Unmarshal(c.ResourcesJSON, c.Updated); err != nil {
				return nil, fmt.Errorf("resources: %w", err)
			}
		}
		return c, nil
	})
}
