package rktlet

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

// sandboxPhase is the on-disk phase of a sandbox.
type sandboxPhase string

const (
	phaseCreating sandboxPhase = "creating"
	phaseCreated  sandboxPhase = "created"
	phaseStopped  sandboxPhase = "stopped"
)

// sandboxRecord is what is persisted of a sandbox, under
// state-dir/sandboxes/<id>.json.
type sandboxRecord struct {
	ID          string          `json:"id"`
	Config      json.RawMessage `json:"config"`
	CreatedAt   int64           `json:"createdAt"`
	Unit        string          `json:"unit"`
	RktUUID     string          `json:"rktUUID,omitempty"`
	NetNS       string          `json:"netns,omitempty"`
	IPs         []string        `json:"ips,omitempty"`
	HostNetwork bool            `json:"hostNetwork,omitempty"`
	Phase       sandboxPhase    `json:"phase"`
	// Resources are the pod's overhead and resources after its last
	// in-place resize (a LinuxPodSandboxConfig in protojson).
	Resources json.RawMessage `json:"resources,omitempty"`
}

// sandbox is a sandbox in memory: its record, its parsed config and the
// state last seen from systemd.
type sandbox struct {
	sandboxRecord
	config *runtimeapi.PodSandboxConfig
	state  runtimeapi.PodSandboxState
}

// netnsName is the name of the pod's network namespace (under
// network.NetNSDir): derived from the ID, so that a creation interrupted
// before its record named the namespace can still be undone.
func (sb *sandbox) netnsName() string { return "rktlet-" + sb.ID }

func (sb *sandbox) metadata() *runtimeapi.PodSandboxMetadata { return sb.config.GetMetadata() }

func (sb *sandbox) key() string    { return sb.ID }
func (sb *sandbox) created() int64 { return sb.CreatedAt }
func (sb *sandbox) persisted() any { return sb.sandboxRecord }
func (sb *sandbox) clone() *sandbox {
	c := *sb
	return &c
}

// sandboxStore holds every sandbox rktlet knows, keyed by ID.
type sandboxStore struct {
	*recordStore[*sandbox]
}

func newSandboxStore(stateDir string) *sandboxStore {
	return &sandboxStore{newRecordStore[*sandbox](filepath.Join(stateDir, "sandboxes"), "pod sandbox")}
}

// byUnit finds the sandbox a unit runs.
func (s *sandboxStore) byUnit(unit string) (*sandbox, bool) {
	for _, sb := range s.list() {
		if sb.Unit == unit {
			return sb, true
		}
	}
	return nil, false
}

// load reads every record on disk; states start NOTREADY until systemd is
// asked.
func (s *sandboxStore) load() (items []*sandbox, corrupt []error, err error) {
	return s.readAll(func(_ string, b []byte) (*sandbox, error) {
		sb := &sandbox{}
		if err := json.Unmarshal(b, &sb.sandboxRecord); err != nil {
			return nil, err
		}
		sb.config = &runtimeapi.PodSandboxConfig{}
		if err := protojson.Unmarshal(sb.Config, sb.config); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		sb.state = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
		return sb, nil
	})
}

// newSandbox makes the in-memory form of a new sandbox.
func newSandbox(id string, cfg *runtimeapi.PodSandboxConfig) (*sandbox, error) {
	raw, err := protojson.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return &sandbox{
		sandboxRecord: sandboxRecord{
			ID:        id,
			Config:    raw,
			CreatedAt: time.Now().UnixNano(),
			Unit:      unitName(id),
			Phase:     phaseCreating,
		},
		config: cfg,
		state:  runtimeapi.PodSandboxState_SANDBOX_NOTREADY,
	}, nil
}

// unitPrefix starts the name of every pod unit rktlet makes.
const unitPrefix = "rktlet-pod-"

// unitName is the pod's unit: it holds the whole sandbox ID, so an operator
// finds it from the ID `crictl pods` shows (`systemctl status rktlet-pod-<id>*`).
func unitName(id string) string { return unitPrefix + id + ".service" }
