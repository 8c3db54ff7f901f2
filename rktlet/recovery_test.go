package rktlet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rktlet/rktlet/internal/store"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// A restarted rktlet finds everything again from its records, systemd and
// stage1's files, and cleans up what a crash left halfway: a pod or a
// container whose creation was interrupted is undone, a container whose
// pod is gone is forgotten, a pod unit it has no record of is stopped
// (only its own: another rktlet's stays), a record that does not decode is
// moved aside.
func TestRecover(t *testing.T) {
	w := newWorld(t)
	cfg := w.s.config

	running, runningCfg := w.runPod("running")
	started := w.createContainer(running, runningCfg, containerConfig("started", "sleep", "3600"))
	if _, err := w.s.StartContainer(bg, &runtimeapi.StartContainerRequest{ContainerId: started}); err != nil {
		t.Fatal(err)
	}
	done := w.createContainer(running, runningCfg, containerConfig("done", "true"))
	if _, err := w.s.StartContainer(bg, &runtimeapi.StartContainerRequest{ContainerId: done}); err != nil {
		t.Fatal(err)
	}
	created := w.createContainer(running, runningCfg, containerConfig("created"))

	stopped, _ := w.runPod("stopped")
	if _, err := w.s.StopPodSandbox(bg, &runtimeapi.StopPodSandboxRequest{PodSandboxId: stopped}); err != nil {
		t.Fatal(err)
	}
	died, _ := w.runPod("died")
	diedPod, _ := w.s.sandboxes.Get(died)

	// What a rktlet killed mid-creation leaves: a pod record still
	// "creating" with its unit running, a container record still
	// "creating", and a container of a pod whose record is gone.
	halfPod, err := store.NewSandbox(strings.Repeat("a", 64), podConfig("half"))
	if err != nil {
		t.Fatal(err)
	}
	halfPod.HostNetwork = true
	if err := w.s.sandboxes.Create(halfPod); err != nil {
		t.Fatal(err)
	}
	w.sd.units[halfPod.Unit] = &fakeUnit{active: true, env: []string{w.s.ownerMark()}}
	halfContainer := writeContainerRecord(t, w, strings.Repeat("b", 64), running, store.PhaseCreating)
	orphanContainer := writeContainerRecord(t, w, strings.Repeat("c", 64), strings.Repeat("d", 64), store.PhaseCreated)

	// Units: one of this rktlet's with no record, one of another rktlet's.
	orphanUnit, foreignUnit := store.UnitName(strings.Repeat("1", 64)), store.UnitName(strings.Repeat("2", 64))
	w.sd.units[orphanUnit] = &fakeUnit{active: true, env: []string{w.s.ownerMark()}}
	w.sd.units[foreignUnit] = &fakeUnit{active: true, env: []string{"RKTLET_STATE_DIR=/var/lib/other-rktlet"}}
	// A unit that went away while rktlet was down.
	delete(w.sd.units, diedPod.Unit)

	corrupt := filepath.Join(cfg.StateDir, "sandboxes", strings.Repeat("9", 64)+".json")
	if err := os.WriteFile(corrupt, []byte(`{"id": "`), 0o600); err != nil {
		t.Fatal(err)
	}

	w.s = w.restart(cfg)

	for id, want := range map[string]runtimeapi.PodSandboxState{
		running: runtimeapi.PodSandboxState_SANDBOX_READY,
		stopped: runtimeapi.PodSandboxState_SANDBOX_NOTREADY,
		died:    runtimeapi.PodSandboxState_SANDBOX_NOTREADY,
	} {
		if got := w.podState(id); got != want {
			t.Errorf("pod %s after the restart: %s, want %s", id[:8], got, want)
		}
	}
	for id, want := range map[string]runtimeapi.ContainerState{
		started: runtimeapi.ContainerState_CONTAINER_RUNNING,
		done:    runtimeapi.ContainerState_CONTAINER_EXITED,
		created: runtimeapi.ContainerState_CONTAINER_CREATED,
	} {
		if got := w.containerState(id).GetState(); got != want {
			t.Errorf("container %s after the restart: %s, want %s", id[:8], got, want)
		}
	}
	if _, err := w.s.sandboxes.Get(halfPod.ID); err == nil {
		t.Error("the pod whose creation was interrupted is still known")
	}
	if !w.sd.stopped(halfPod.Unit) {
		t.Error("the unit of the pod whose creation was interrupted was not stopped")
	}
	for _, id := range []string{halfContainer, orphanContainer} {
		if _, err := w.s.containers.Get(id); err == nil {
			t.Errorf("container %s is still known", id[:8])
		}
		if !w.limits.wasReleased(id) {
			t.Errorf("the cgroups of container %s were not released", id[:8])
		}
		if _, err := os.Stat(filepath.Join(cfg.StateDir, "containers", id+".json")); !os.IsNotExist(err) {
			t.Errorf("the record of container %s is still there", id[:8])
		}
	}
	if !w.sd.stopped(orphanUnit) {
		t.Error("a pod unit of this rktlet with no record was not stopped")
	}
	if w.sd.stopped(foreignUnit) {
		t.Error("another rktlet's pod unit was stopped")
	}
	if _, err := os.Stat(corrupt); !os.IsNotExist(err) {
		t.Error("the corrupt record was not moved aside")
	}
	moved, _ := filepath.Glob(filepath.Join(cfg.StateDir, "quarantine", "*"))
	if len(moved) != 1 {
		t.Errorf("quarantine holds %v", moved)
	}
	resp, err := w.s.ListPodSandbox(bg, &runtimeapi.ListPodSandboxRequest{})
	if err != nil || len(resp.GetItems()) != 3 {
		t.Fatalf("ListPodSandbox after the restart: %v %v", resp, err)
	}

	// The recovered pod still works: its running container stops.
	if _, err := w.s.StopContainer(bg, &runtimeapi.StopContainerRequest{ContainerId: started, Timeout: 5}); err != nil {
		t.Fatal(err)
	}
	if st := w.containerState(started); st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED {
		t.Fatalf("the recovered container after StopContainer: %v", st)
	}
}

// writeContainerRecord writes a container record as a crashed rktlet left
// it.
func writeContainerRecord(t *testing.T, w *world, id, sandboxID string, phase store.Phase) string {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"metadata": map[string]any{"name": "left-" + id[:4]}, "image": map[string]any{"image": "busybox:latest"}})
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Container{ContainerRecord: store.ContainerRecord{
		ID: id, SandboxID: sandboxID, App: appName(id), ConfigJSON: raw, CreatedAt: time.Now().UnixNano(), Phase: phase,
	}, Config: containerConfig("left-" + id[:4])}
	if err := w.s.containers.Create(c); err != nil {
		t.Fatal(err)
	}
	return id
}
