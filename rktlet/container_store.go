package rktlet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rktlet/rktlet/internal/atomicfile"
	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A container's life:
//
//	           CreateContainer                      StartContainer
//	(none) ───────────────────► creating ─ app added ─► CREATED ──────────────► RUNNING
//	                              │ rkt app add failed:                             │ exits, StopContainer,
//	                              ▼ record removed                                  │ or its pod stops
//	                            (none)                                              ▼
//	                                                    (none) ◄── RemoveContainer ── EXITED
//
// Only the record (what was asked for, the rkt app's name) is rktlet's;
// CREATED, RUNNING, EXITED, the exit code and the times are read from the
// files stage1 keeps for each app in the pod (rkt/status/<app>-created,
// -started, and <app> holding the exit code), so they survive a rktlet
// restart and cost no rkt process to read.

// containerRecord is what is persisted of a container, under
// state-dir/containers/<id>.json.
type containerRecord struct {
	ID        string          `json:"id"`
	SandboxID string          `json:"sandboxID"`
	App       string          `json:"app"`
	ACI       string          `json:"aci"`
	ImageID   string          `json:"imageID"`
	Config    json.RawMessage `json:"config"`
	CreatedAt int64           `json:"createdAt"`
	Phase     sandboxPhase    `json:"phase"`
	User      identity        `json:"user"`
}

type container struct {
	containerRecord
	config *runtimeapi.ContainerConfig
}

type containerStore struct {
	dir string

	mu         sync.RWMutex
	containers map[string]*container
	locks      sync.Map
}

func newContainerStore(stateDir string) *containerStore {
	return &containerStore{dir: filepath.Join(stateDir, "containers"), containers: map[string]*container{}}
}

func (s *containerStore) lock(id string) func() {
	m, _ := s.locks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (s *containerStore) save(c *container) error {
	b, err := json.MarshalIndent(c.containerRecord, "", "\t")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, c.ID+".json"), b, 0o600); err != nil {
		return fmt.Errorf("writing the state of container %s: %w", c.ID, err)
	}
	s.mu.Lock()
	s.containers[c.ID] = c
	s.mu.Unlock()
	return nil
}

func (s *containerStore) delete(id string) error {
	if err := os.Remove(filepath.Join(s.dir, id+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the state of container %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.containers, id)
	s.mu.Unlock()
	return nil
}

func (s *containerStore) get(idOrPrefix string) (*container, error) {
	if idOrPrefix == "" {
		return nil, fmt.Errorf("container ID is empty: %w", ErrInvalidArgument)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c, ok := s.containers[idOrPrefix]; ok {
		return c, nil
	}
	var found *container
	for id, c := range s.containers {
		if strings.HasPrefix(id, idOrPrefix) {
			if found != nil {
				return nil, fmt.Errorf("container ID prefix %q is ambiguous: %w", idOrPrefix, ErrInvalidArgument)
			}
			found = c
		}
	}
	if found == nil {
		return nil, fmt.Errorf("container %q: %w", idOrPrefix, ErrNotFound)
	}
	return found, nil
}

func (s *containerStore) list() []*container {
	s.mu.RLock()
	out := make([]*container, 0, len(s.containers))
	for _, c := range s.containers {
		out = append(out, c)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt < out[j].CreatedAt })
	return out
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

// load reads every record on disk into memory.
func (s *containerStore) load() ([]*container, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*container
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		c := &container{}
		if err := json.Unmarshal(b, &c.containerRecord); err != nil {
			return nil, fmt.Errorf("container state %s: %w", e.Name(), err)
		}
		c.config = &runtimeapi.ContainerConfig{}
		if err := protojson.Unmarshal(c.Config, c.config); err != nil {
			return nil, fmt.Errorf("container state %s: config: %w", e.Name(), err)
		}
		out = append(out, c)
	}
	return out, nil
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

// appStatusDir is the directory where stage1 writes its apps' status files:
// the overlay's upper layer of the pod's stage1 (readable from any mount
// namespace and after the pod stopped), or the stage1 rootfs itself when
// the pod runs without overlay.
func (s *Service) appStatusDir(uuid string) (string, error) {
	if uuid == "" {
		return "", errors.New("pod has no rkt UUID")
	}
	for _, where := range []string{"run", "exited-garbage", "garbage"} {
		pod := filepath.Join(s.config.RktDataDir, "pods", where, uuid)
		if _, err := os.Stat(pod); err != nil {
			continue
		}
		if tree, err := os.ReadFile(filepath.Join(pod, "stage1TreeStoreID")); err == nil {
			dir := filepath.Join(pod, "overlay", strings.TrimSpace(string(tree)), "upper", "rkt", "status")
			if _, err := os.Stat(filepath.Join(pod, "overlay-prepared")); err == nil {
				return dir, nil
			}
		}
		return filepath.Join(pod, "stage1", "rootfs", "rkt", "status"), nil
	}
	return "", fmt.Errorf("rkt pod %s not found", uuid)
}

// supervisorReady tells whether the pod's stage1 accepts apps: its
// supervisor-ready unit has linked rkt/supervisor-status to "ready", which
// can come a moment after nspawn said the pod is up.
func (s *Service) supervisorReady(uuid string) bool {
	dir, err := s.appStatusDir(uuid)
	if err != nil {
		return false
	}
	target, err := os.Readlink(filepath.Join(filepath.Dir(dir), "supervisor-status"))
	return err == nil && target == "ready"
}

// readAppState derives a container's state from stage1's files and, for a
// started app whose pod is no longer running, from the pod's state.
func (s *Service) readAppState(c *container, sb *sandbox) appState {
	st := appState{state: runtimeapi.ContainerState_CONTAINER_UNKNOWN}
	if sb == nil {
		st.state, st.reason, st.message = runtimeapi.ContainerState_CONTAINER_EXITED, "Error", "the container's pod sandbox is gone"
		st.exitCode = -1
		return st
	}
	dir, err := s.appStatusDir(sb.RktUUID)
	if err != nil {
		st.message = err.Error()
		return st
	}
	if c.Phase == phaseCreated {
		st.state = runtimeapi.ContainerState_CONTAINER_CREATED
	}
	fi, err := os.Stat(filepath.Join(dir, c.App+"-started"))
	if err != nil {
		if sb.state != runtimeapi.PodSandboxState_SANDBOX_READY && c.Phase == phaseCreated {
			// Never started, and its pod is gone: it never will.
			st.state, st.reason, st.message = runtimeapi.ContainerState_CONTAINER_EXITED, "Error", "the pod sandbox stopped before the container started"
			st.exitCode = -1
		}
		return st
	}
	st.state = runtimeapi.ContainerState_CONTAINER_RUNNING
	st.startedAt = fi.ModTime().UnixNano()
	fi, err = os.Stat(filepath.Join(dir, c.App))
	if err != nil {
		if sb.state != runtimeapi.PodSandboxState_SANDBOX_READY {
			// The pod stopped under it: its processes were killed.
			st.state, st.exitCode, st.reason = runtimeapi.ContainerState_CONTAINER_EXITED, 137, "Error"
			st.message = "the pod sandbox stopped"
			st.finishedAt = time.Now().UnixNano()
		}
		return st
	}
	st.state = runtimeapi.ContainerState_CONTAINER_EXITED
	st.finishedAt = fi.ModTime().UnixNano()
	st.exitCode = 1 // stage1 may die before writing the code, as rkt assumes
	if b, err := os.ReadFile(filepath.Join(dir, c.App)); err == nil {
		if code, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			st.exitCode = int32(code)
		}
	}
	if st.exitCode == 0 {
		st.reason = "Completed"
	} else {
		st.reason = "Error"
	}
	return st
}

// appName is the rkt app name of a container: derived from its ID, since
// rkt app names are lowercase and the CRI's names are not (the 2017 rktlet
// lowercased them and FooBar collided with foobar).
func appName(containerID string) string { return "ctr-" + containerID[:20] }
