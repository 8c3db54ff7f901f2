package stage1

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPods: a pod's stage1 files are found in the run directory (and in
// the overlay's upper layer once stage1 runs on one), and read as stage1
// left them.
func TestPods(t *testing.T) {
	data := t.TempDir()
	p := NewPods(data, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer p.Close()
	if _, err := p.Root("missing"); err == nil {
		t.Fatal("a pod that is not there has a root")
	}
	if _, err := p.Root(""); err == nil {
		t.Fatal("an empty UUID has a root")
	}

	pod := filepath.Join(data, "pods", "run", "uuid-1")
	status := filepath.Join(pod, "stage1", "rootfs", "rkt", "status")
	if err := os.MkdirAll(status, 0o755); err != nil {
		t.Fatal(err)
	}
	if p.SupervisorReady("uuid-1") {
		t.Fatal("ready without supervisor-status")
	}
	if err := os.Symlink("ready", filepath.Join(filepath.Dir(status), "supervisor-status")); err != nil {
		t.Fatal(err)
	}
	if !p.SupervisorReady("uuid-1") {
		t.Fatal("not ready with supervisor-status → ready")
	}
	if dir, err := p.JournalDir("uuid-1"); err != nil || dir != filepath.Join(pod, "stage1", "rootfs", "var", "log", "journal") {
		t.Fatalf("journal dir %q %v", dir, err)
	}

	f, err := p.App("uuid-1", "app")
	if err != nil || f.HasStarted || f.HasExited {
		t.Fatalf("an app that never ran: %+v %v", f, err)
	}
	for name, content := range map[string]string{"app-started": "", "app": "137"} {
		if err := os.WriteFile(filepath.Join(status, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The watched copy learns of the writes from inotify, a moment later,
	// and may see a file created before its content is written (as
	// stage1's reaper writes the exit code): each change closes the channel
	// Changes gave before it.
	deadline := time.After(10 * time.Second)
	for {
		changed := p.Changes("uuid-1")
		f, err = p.App("uuid-1", "app")
		if err == nil && f.HasStarted && f.HasExited && f.Exited.Content == "137" {
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the app's files never showed: %+v %v", f, err)
		}
	}
	if f.Started.ModTime.IsZero() || f.Exited.ModTime.IsZero() {
		t.Fatalf("an app that exited 137 has no times: %+v", f)
	}

	// With the overlay prepared, stage1's files are in the upper layer.
	if err := os.WriteFile(filepath.Join(pod, "stage1TreeStoreID"), []byte("tree-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pod, "overlay-prepared"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if root, err := p.Root("uuid-1"); err != nil || root != filepath.Join(pod, "overlay", "tree-1", "upper") {
		t.Fatalf("root with an overlay: %q %v", root, err)
	}
}
