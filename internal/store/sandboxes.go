package store

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A sandbox's life, as the store sees it:
//
//	          RunPodSandbox
//	(none) ─────────────────► creating ── unit active (start job done) ──► READY
//	                             │                                          │
//	                             │ any step fails: everything undone        │ StopPodSandbox, or the unit
//	                             ▼                                          │ went inactive/failed (D-Bus)
//	                           (none)                                       ▼
//	                                                                     NOTREADY ── RemovePodSandbox ──► (none)
//
// The record on disk is written before the unit starts (phase "creating"),
// so a rktlet killed mid-creation finds and undoes it at restart. READY and
// NOTREADY are never trusted from disk: they are read from systemd.

// Phase is the on-disk phase of a sandbox or a container: how far its
// creation got.
type Phase string

const (
	PhaseCreating Phase = "creating"
	PhaseCreated  Phase = "created"
	PhaseStopped  Phase = "stopped"
)

// SandboxRecord is what is persisted of a sandbox, under
// state-dir/sandboxes/<id>.json.
type SandboxRecord struct {
	ID          string          `json:"id"`
	ConfigJSON  json.RawMessage `json:"config"`
	CreatedAt   int64           `json:"createdAt"`
	Unit        string          `json:"unit"`
	RktUUID     string          `json:"rktUUID,omitempty"`
	NetNS       string          `json:"netns,omitempty"`
	IPs         []string        `json:"ips,omitempty"`
	HostNetwork bool            `json:"hostNetwork,omitempty"`
	Phase       Phase           `json:"phase"`
	// ResourcesJSON are the pod's overhead and resources after its last
	// in-place resize (a LinuxPodSandboxConfig in protojson).
	ResourcesJSON json.RawMessage `json:"resources,omitempty"`
}

// Sandbox is a sandbox in memory: its record, its parsed config and the
// state last seen from systemd.
type Sandbox struct {
	SandboxRecord
	Config *runtimeapi.PodSandboxConfig
	State  runtimeapi.PodSandboxState
}

// NetNSName is the name of the pod's network namespace (under
// network.NetNSDir): derived from the ID, so that a creation interrupted
// before its record named the namespace can still be undone.
func (sb *Sandbox) NetNSName() string { return "rktlet-" + sb.ID }

// Resources are the pod's overhead and resources: the last resize's, or
// those it was created with.
func (sb *Sandbox) Resources() *runtimeapi.LinuxPodSandboxConfig {
	cfg := &runtimeapi.LinuxPodSandboxConfig{
		Overhead: sb.Config.GetLinux().GetOverhead(), Resources: sb.Config.GetLinux().GetResources(),
	}
	if len(sb.ResourcesJSON) > 0 {
		updated := &runtimeapi.LinuxPodSandboxConfig{}
		if protojson.Unmarshal(sb.ResourcesJSON, updated) == nil {
			cfg = updated
		}
	}
	return cfg
}

func (sb *Sandbox) Metadata() *runtimeapi.PodSandboxMetadata { return sb.Config.GetMetadata() }

func (sb *Sandbox) Key() string    { return sb.ID }
func (sb *Sandbox) Created() int64 { return sb.CreatedAt }
func (sb *Sandbox) Persisted() any { return sb.SandboxRecord }
func (sb *Sandbox) Clone() *Sandbox {
	c := *sb
	return &c
}

// Sandboxes holds every sandbox rktlet knows, keyed by ID.
type Sandboxes struct {
	*Records[*Sandbox]
}

func NewSandboxes(stateDir string) *Sandboxes {
	return &Sandboxes{NewRecords[*Sandbox](filepath.Join(stateDir, "sandboxes"), "pod sandbox")}
}

// ByUnit finds the sandbox a unit runs.
func (s *Sandboxes) ByUnit(unit string) (*Sandbox, bool) {
	for _, sb := range s.List() {
		if sb.Unit == unit {
			return sb, true
		}
	}
	return nil, false
}

// Load reads every record on disk; states start NOTREADY until systemd is
// asked.
func (s *Sandboxes) Load() (items []*Sandbox, corrupt []error, err error) {
	return s.readAll(func(_ string, b []byte) (*Sandbox, error) {
		sb := &Sandbox{}
		if err := json.Unmarshal(b, &sb.SandboxRecord); err != nil {
			return nil, err
		}
		sb.Config = &runtimeapi.PodSandboxConfig{}
		if err := protojson.Unmarshal(sb.ConfigJSON, sb.Config); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		sb.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
		return sb, nil
	})
}

// NewSandbox makes the in-memory form of a new sandbox.
func NewSandbox(id string, cfg *runtimeapi.PodSandboxConfig) (*Sandbox, error) {
	raw, err := protojson.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return &Sandbox{
		SandboxRecord: SandboxRecord{
			ID:         id,
			ConfigJSON: raw,
			CreatedAt:  time.Now().UnixNano(),
			Unit:       UnitName(id),
			Phase:      PhaseCreating,
		},
		Config: cfg,
		State:  runtimeapi.PodSandboxState_SANDBOX_NOTREADY,
	}, nil
}

// UnitPrefix starts the name of every pod unit rktlet makes.
const UnitPrefix = "rktlet-pod-"

// UnitName is the pod's unit: it holds the whole sandbox ID, so an operator
// finds it from the ID `crictl pods` shows (`systemctl status rktlet-pod-<id>*`).
func UnitName(id string) string { return UnitPrefix + id + ".service" }
