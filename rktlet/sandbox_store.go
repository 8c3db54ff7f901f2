package rktlet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rktlet/rktlet/internal/atomicfile"
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
}

// sandbox is a sandbox in memory: its record, its parsed config and the
// state last seen from systemd.
type sandbox struct {
	sandboxRecord
	config *runtimeapi.PodSandboxConfig
	state  runtimeapi.PodSandboxState
}

func (sb *sandbox) metadata() *runtimeapi.PodSandboxMetadata { return sb.config.GetMetadata() }

// sandboxStore holds every sandbox rktlet knows, keyed by ID.
type sandboxStore struct {
	dir string

	mu        sync.RWMutex
	sandboxes map[string]*sandbox
	// locks serialize Run/Stop/Remove of one sandbox.
	locks sync.Map
}

func newSandboxStore(stateDir string) *sandboxStore {
	return &sandboxStore{dir: filepath.Join(stateDir, "sandboxes"), sandboxes: map[string]*sandbox{}}
}

// lock takes the operation lock of one sandbox ID.
func (s *sandboxStore) lock(id string) func() {
	m, _ := s.locks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (s *sandboxStore) path(id string) string { return filepath.Join(s.dir, id+".json") }

// save persists a sandbox's record and publishes it in memory.
func (s *sandboxStore) save(sb *sandbox) error {
	b, err := json.MarshalIndent(sb.sandboxRecord, "", "\t")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.path(sb.ID), b, 0o600); err != nil {
		return fmt.Errorf("writing the state of sandbox %s: %w", sb.ID, err)
	}
	s.mu.Lock()
	s.sandboxes[sb.ID] = sb
	s.mu.Unlock()
	return nil
}

// setState changes the in-memory state of a sandbox.
func (s *sandboxStore) setState(id string, state runtimeapi.PodSandboxState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb, ok := s.sandboxes[id]; ok {
		copy := *sb
		copy.state = state
		s.sandboxes[id] = &copy
	}
}

// delete forgets a sandbox, on disk and in memory.
func (s *sandboxStore) delete(id string) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the state of sandbox %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.sandboxes, id)
	s.mu.Unlock()
	return nil
}

// get returns a sandbox by full ID or unique ID prefix. Sandboxes are
// replaced, never changed in place, so the caller may read it freely.
func (s *sandboxStore) get(idOrPrefix string) (*sandbox, error) {
	if idOrPrefix == "" {
		return nil, fmt.Errorf("pod sandbox ID is empty: %w", ErrInvalidArgument)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sb, ok := s.sandboxes[idOrPrefix]; ok {
		return sb, nil
	}
	var found *sandbox
	for id, sb := range s.sandboxes {
		if strings.HasPrefix(id, idOrPrefix) {
			if found != nil {
				return nil, fmt.Errorf("pod sandbox ID prefix %q is ambiguous: %w", idOrPrefix, ErrInvalidArgument)
			}
			found = sb
		}
	}
	if found == nil {
		return nil, fmt.Errorf("pod sandbox %q: %w", idOrPrefix, ErrNotFound)
	}
	return found, nil
}

// byUnit finds the sandbox a unit runs.
func (s *sandboxStore) byUnit(unit string) (*sandbox, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sb := range s.sandboxes {
		if sb.Unit == unit {
			return sb, true
		}
	}
	return nil, false
}

// list returns every sandbox, oldest first.
func (s *sandboxStore) list() []*sandbox {
	s.mu.RLock()
	out := make([]*sandbox, 0, len(s.sandboxes))
	for _, sb := range s.sandboxes {
		out = append(out, sb)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt < out[j].CreatedAt })
	return out
}

// load reads every record on disk.
func (s *sandboxStore) load() ([]*sandbox, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*sandbox
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sb := &sandbox{}
		if err := json.Unmarshal(b, &sb.sandboxRecord); err != nil {
			return nil, fmt.Errorf("sandbox state %s: %w", e.Name(), err)
		}
		sb.config = &runtimeapi.PodSandboxConfig{}
		if err := protojson.Unmarshal(sb.Config, sb.config); err != nil {
			return nil, fmt.Errorf("sandbox state %s: config: %w", e.Name(), err)
		}
		sb.state = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
		out = append(out, sb)
	}
	return out, nil
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
