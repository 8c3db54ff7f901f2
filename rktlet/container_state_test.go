package rktlet

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/rktlet/rktlet/internal/cgroups"
	"github.com/rktlet/rktlet/internal/stage1"
	"github.com/rktlet/rktlet/internal/store"
)

// TestReadAppState: a container's state as stage1's status files, its
// record and its pod's state tell it (the state machine drawn in
// internal/store/containers.go).
func TestReadAppState(t *testing.T) {
	const (
		created  = runtimeapi.ContainerState_CONTAINER_CREATED
		running  = runtimeapi.ContainerState_CONTAINER_RUNNING
		exited   = runtimeapi.ContainerState_CONTAINER_EXITED
		unknown  = runtimeapi.ContainerState_CONTAINER_UNKNOWN
		ready    = runtimeapi.PodSandboxState_SANDBOX_READY
		notReady = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	)
	old := time.Now().Add(-time.Minute)
	for _, tc := range []struct {
		name       string
		phase      store.Phase
		startError string
		podState   runtimeapi.PodSandboxState
		noPod      bool
		files      map[string]string // status file → content
		exitedAt   time.Time         // the exit file's time, when not now
		want       runtimeapi.ContainerState
		exitCode   int32
		reason     string
	}{
		{name: "its pod is gone", noPod: true, want: exited, exitCode: -1, reason: "Error"},
		{name: "created, pod ready", phase: store.PhaseCreated, podState: ready, want: created},
		{name: "created, pod stopped", phase: store.PhaseCreated, podState: notReady, want: exited, exitCode: -1, reason: "Error"},
		{name: "being created", phase: store.PhaseCreating, podState: ready, want: unknown},
		{name: "start failed", phase: store.PhaseCreated, startError: "rkt app start: boom", podState: ready,
			files: map[string]string{"started": ""}, want: exited, exitCode: 128, reason: "StartError"},
		{name: "running", phase: store.PhaseCreated, podState: ready, files: map[string]string{"started": ""}, want: running},
		{name: "running when its pod stopped", phase: store.PhaseCreated, podState: notReady, files: map[string]string{"started": ""}, want: exited, exitCode: 137, reason: "Error"},
		{name: "completed", phase: store.PhaseCreated, podState: ready, files: map[string]string{"started": "", "exit": "0"}, want: exited, exitCode: 0, reason: "Completed"},
		{name: "failed", phase: store.PhaseCreated, podState: ready, files: map[string]string{"started": "", "exit": "3\n"}, want: exited, exitCode: 3, reason: "Error"},
		{name: "exit code being written", phase: store.PhaseCreated, podState: ready, files: map[string]string{"started": "", "exit": ""}, want: running},
		{name: "exit code slow to come", phase: store.PhaseCreated, podState: ready, files: map[string]string{"started": "", "exit": ""}, exitedAt: time.Now().Add(-5 * time.Second), want: running},
		{name: "exit code never written, pod stopped", phase: store.PhaseCreated, podState: notReady, files: map[string]string{"started": "", "exit": ""}, want: exited, exitCode: 1, reason: "Error"},
		{name: "exit code never written", phase: store.PhaseCreated, podState: ready, files: map[string]string{"started": "", "exit": ""}, exitedAt: old, want: exited, exitCode: 1, reason: "Error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			status := filepath.Join(data, "pods", "run", "uuid-1", "stage1", "rootfs", "rkt", "status")
			if err := os.MkdirAll(status, 0o755); err != nil {
				t.Fatal(err)
			}
			const app = "ctr-0123456789abcdef0123"
			for kind, content := range tc.files {
				name := app + "-started"
				if kind == "exit" {
					name = app
				}
				path := filepath.Join(status, name)
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				if kind == "exit" && !tc.exitedAt.IsZero() {
					if err := os.Chtimes(path, tc.exitedAt, tc.exitedAt); err != nil {
						t.Fatal(err)
					}
				}
			}
			s := &Service{pods: stage1.NewPods(data, slog.New(slog.NewTextHandler(io.Discard, nil))), limits: &cgroups.V1{}}
			defer s.pods.Close()
			c := &store.Container{ContainerRecord: store.ContainerRecord{ID: "c1", App: app, Phase: tc.phase, StartError: tc.startError, StartFailedAt: time.Now().UnixNano()}}
			var sb *store.Sandbox
			if !tc.noPod {
				sb = &store.Sandbox{SandboxRecord: store.SandboxRecord{ID: "p1", RktUUID: "uuid-1"}, State: tc.podState}
			}
			st := s.readAppState(c, sb)
			if st.state != tc.want || st.exitCode != tc.exitCode || st.reason != tc.reason {
				t.Fatalf("got %v exit %d reason %q (%s), want %v exit %d reason %q", st.state, st.exitCode, st.reason, st.message, tc.want, tc.exitCode, tc.reason)
			}
			// A container that never ran has no finish time.
			if tc.want == exited && tc.exitCode != -1 && st.finishedAt == 0 {
				t.Errorf("no finish time")
			}
			if _, ran := tc.files["started"]; ran && st.startedAt == 0 {
				t.Errorf("no start time")
			}
		})
	}
}
