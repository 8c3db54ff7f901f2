package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rktlet/rktlet/internal/atomicfile"
	"github.com/rktlet/rktlet/internal/metrics"
)

// ErrUnknownContainer is returned for a container no follower writes.
var ErrUnknownContainer = errors.New("no log follower for this container")

// Manager runs one follower per pod: one journal reader (and one inotify
// instance) per pod, however many containers it has.
type Manager struct {
	stateDir string
	log      *slog.Logger

	mu    sync.Mutex
	pods  map[string]*podFollower
	owner map[string]string // container ID → pod ID
}

// NewManager keeps its checkpoints in stateDir.
func NewManager(stateDir string, log *slog.Logger) (*Manager, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	// A rktlet killed while saving a checkpoint left its temporary file.
	if err := atomicfile.RemoveStale(stateDir); err != nil {
		return nil, err
	}
	return &Manager{stateDir: stateDir, log: log, pods: map[string]*podFollower{}, owner: map[string]string{}}, nil
}

func (m *Manager) checkpointPath(podID string) string {
	return filepath.Join(m.stateDir, podID+".json")
}

// FollowPod starts following a pod's journal, found in the directory
// locate returns (it may appear only later), for the given containers. A
// checkpoint left by an earlier run is resumed: the files are cut back to
// it and the journal read on from its cursor. Following a pod already
// followed does nothing.
func (m *Manager) FollowPod(podID string, locate func() (string, error), containers []Container) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.pods[podID]; ok {
		return
	}
	f := newPodFollower(podID, locate, m.checkpointPath(podID), m.log, containers)
	m.pods[podID] = f
	for _, c := range containers {
		m.owner[c.ID] = podID
	}
	go f.run()
}

// AddContainer starts writing a container's lines to its log file.
func (m *Manager) AddContainer(podID string, c Container) error {
	m.mu.Lock()
	f, ok := m.pods[podID]
	if ok {
		m.owner[c.ID] = podID
	}
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("pod %s: no log follower", podID)
	}
	return f.addContainer(c)
}

func (m *Manager) followerOf(containerID string) *podFollower {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pods[m.owner[containerID]]
}

// RemoveContainer stops writing a container's log.
func (m *Manager) RemoveContainer(containerID string) {
	if f := m.followerOf(containerID); f != nil {
		f.removeContainer(containerID)
	}
	m.mu.Lock()
	delete(m.owner, containerID)
	m.mu.Unlock()
}

// Reopen starts a new file at the container's log path.
func (m *Manager) Reopen(containerID string) error {
	f := m.followerOf(containerID)
	if f == nil {
		return ErrUnknownContainer
	}
	if err := f.reopen(containerID); err != nil {
		if errors.Is(err, os.ErrNotExist) && f.sinkOf(containerID) == nil {
			return ErrUnknownContainer
		}
		return err
	}
	return nil
}

// WaitDrained waits until every stream of the container has ended and its
// lines are in its file, or until the deadline. It reports whether they
// are.
func (m *Manager) WaitDrained(ctx context.Context, containerID string, deadline time.Time) bool {
	f := m.followerOf(containerID)
	if f == nil {
		return true
	}
	s := f.sinkOf(containerID)
	if s == nil {
		return true
	}
	select {
	case <-s.drained:
		return true
	default:
	}
	wait := time.Until(deadline)
	if wait <= 0 {
		return false
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-s.drained:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	return false
}

// Problem describes log lines of the container that could not be written
// (a full disk), or "".
func (m *Manager) Problem(containerID string) string {
	if f := m.followerOf(containerID); f != nil {
		return f.problem(containerID)
	}
	return ""
}

// PodStopped tells the pod's follower that the pod's journal is complete,
// its journald having exited with the pod: the follower reads it to its end,
// writes the lines out and ends, so that FinishPod, at the pod's removal,
// has nothing left to wait for.
func (m *Manager) PodStopped(podID string) {
	m.mu.Lock()
	f := m.pods[podID]
	m.mu.Unlock()
	if f != nil {
		f.finishSoon()
	}
}

// FinishPod reads what is left of a stopped pod's journal into the files,
// then forgets the pod and its checkpoint. It returns once done or after
// timeout.
func (m *Manager) FinishPod(podID string, timeout time.Duration) {
	m.mu.Lock()
	f := m.pods[podID]
	delete(m.pods, podID)
	for id, p := range m.owner {
		if p == podID {
			delete(m.owner, id)
		}
	}
	m.mu.Unlock()
	if f != nil {
		if !f.drainAndHalt(timeout) {
			m.log.Warn("the pod's journal was not read to its end in time", "pod", podID, "timeout", timeout)
		}
		f.mu.Lock()
		for _, s := range f.byID {
			s.close()
		}
		f.mu.Unlock()
	}
	if err := os.Remove(m.checkpointPath(podID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		m.log.Warn("removing a log checkpoint", "pod", podID, "err", err)
	}
	metrics.LogLag.DeleteLabelValues(podID)
}

// Close stops every follower after writing its checkpoint.
func (m *Manager) Close() {
	m.mu.Lock()
	pods := m.pods
	m.pods = map[string]*podFollower{}
	m.mu.Unlock()
	for _, f := range pods {
		f.halt()
		f.mu.Lock()
		for _, s := range f.byID {
			s.close()
		}
		f.mu.Unlock()
	}
}
