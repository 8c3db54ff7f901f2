package stage1

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// waitChange waits for the next change reported for dir.
func waitChange(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported within 5 s")
	}
}

func TestAppStatusFilesFollowWrites(t *testing.T) {
	f := newStatusFiles(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer f.Close()
	if f.watcher == nil {
		t.Skip("no inotify here")
	}
	dir := filepath.Join(t.TempDir(), "status")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "app-created"), nil, 0o644)
	f.remember("pod-1", dir)

	if _, ok := f.get(dir, "app-created"); !ok {
		t.Fatal("file present before the watch started not seen")
	}
	if d, ok := f.dirOf("pod-1"); !ok || d != dir {
		t.Fatalf("dirOf = %q %v while watched", d, ok)
	}
	ch := f.changes(dir)
	os.WriteFile(filepath.Join(dir, "app-started"), nil, 0o644)
	waitChange(t, ch)
	if _, ok := f.get(dir, "app-started"); !ok {
		t.Fatal("a file created after the watch started is not seen")
	}

	// The exit code comes in a write after the create.
	for {
		ch = f.changes(dir)
		if sf, _ := f.get(dir, "app"); sf.Content == "137\n" {
			break
		}
		if _, err := os.Stat(filepath.Join(dir, "app")); os.IsNotExist(err) {
			os.WriteFile(filepath.Join(dir, "app"), []byte("137\n"), 0o644)
		}
		waitChange(t, ch)
	}

	// Removing the directory (rkt rm) drops it: the next reader looks the
	// pod up again.
	ch = f.changes(dir)
	os.RemoveAll(dir)
	waitChange(t, ch)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := f.dirOf("pod-1"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a removed directory is still remembered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := f.get(dir, "app"); ok {
		t.Fatal("a file of a removed directory is still reported")
	}
}

// Overlayfs reports the reaper's create of an app's exit file to the upper
// directory's watchers, not its write of the code: a copy of the file made
// at the create, still empty, is read again from disk.
func TestExitCodeWrittenWithoutEvent(t *testing.T) {
	f := newStatusFiles(slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer f.Close()
	if f.watcher == nil {
		t.Skip("no inotify here")
	}
	dir := filepath.Join(t.TempDir(), "status")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exit := filepath.Join(dir, "app")
	if err := os.WriteFile(exit, []byte("137\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.get(dir, "app") // watched from now on
	// The copy as the create event left it, before the write.
	f.mu.Lock()
	f.dirs[dir].files["app"] = StatusFile{ModTime: time.Now()}
	ch := f.dirs[dir].changed
	f.mu.Unlock()

	if sf, _ := f.get(dir, "app"); sf.Content != "" {
		t.Fatalf("the plain copy has %q: the test did not set up a missed write", sf.Content)
	}
	sf, ok := f.exitFile(dir, "app")
	if !ok || sf.Content != "137\n" {
		t.Fatalf("exitFile = %+v %v, want the code written on disk", sf, ok)
	}
	waitChange(t, ch)
	if sf, _ := f.get(dir, "app"); sf.Content != "137\n" {
		t.Fatalf("the copy kept %q after the code was found", sf.Content)
	}
}
