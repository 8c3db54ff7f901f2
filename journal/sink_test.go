package journal

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestAppendCRILine(t *testing.T) {
	ts := time.Date(2026, 11, 27, 10, 0, 0, 123456000, time.UTC)
	got := string(appendCRILine(nil, ts, Stderr, false, []byte("hello world")))
	if want := "2026-11-27T10:00:00.123456Z stderr F hello world\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	got = string(appendCRILine(nil, ts, Stdout, true, nil))
	if want := "2026-11-27T10:00:00.123456Z stdout P \n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSinkResumeCutsBackToCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "c.log")
	s := newSink(Container{ID: "c", App: "ctr-c", Path: path, Streams: []string{Stdout}})
	if err := s.openFile(); err != nil {
		t.Fatal(err)
	}
	_ = s.add([]byte("one\n"))
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	mark := s.mark()
	_ = s.add([]byte("two\n"))
	s.close()

	again := newSink(s.Container)
	if err := again.resume(mark); err != nil {
		t.Fatal(err)
	}
	defer again.close()
	b, _ := os.ReadFile(path)
	if string(b) != "one\n" {
		t.Fatalf("after resume the file holds %q, want what the checkpoint covered", b)
	}

	// A file the kubelet rotated in between is not touched.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("new file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	third := newSink(s.Container)
	if err := third.resume(mark); err != nil {
		t.Fatal(err)
	}
	defer third.close()
	if b, _ := os.ReadFile(path); string(b) != "new file\n" {
		t.Fatalf("a replaced file was changed to %q", b)
	}
}

func TestSinkRecreatesMissingDirAndReportsDrops(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gone", "c.log")
	s := newSink(Container{ID: "c", App: "ctr-c", Path: path, Streams: []string{Stdout, Stderr}})
	if err := s.openFile(); err != nil {
		t.Fatal(err)
	}
	defer s.close()
	// The log directory is removed; lines go nowhere until a reopen.
	if err := os.RemoveAll(filepath.Join(dir, "gone")); err != nil {
		t.Fatal(err)
	}
	s.file.Close()
	_ = s.add([]byte("a\nb\n"))
	if err := s.flush(); err == nil {
		t.Fatal("writing to a closed file should fail")
	}
	if p := s.problem(); !strings.Contains(p, "2 log lines") {
		t.Fatalf("problem %q should count the 2 dropped lines", p)
	}
	if err := s.reopen(); err != nil {
		t.Fatal(err)
	}
	_ = s.add([]byte("c\n"))
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "c\n" {
		t.Fatalf("reopened file holds %q", b)
	}
	if p := s.problem(); p != "" {
		t.Fatalf("problem %q after a reopen", p)
	}
}

func TestSinkDrainsWhenEveryStreamEnded(t *testing.T) {
	s := newSink(Container{ID: "c", App: "ctr-c", Streams: []string{Stdout, Stderr}})
	s.streamEnded(Stdout)
	s.streamEnded(Stdout)
	select {
	case <-s.drained:
		t.Fatal("drained with stderr still open")
	default:
	}
	s.streamEnded(Stderr)
	<-s.drained
}

// A log file is opened only beneath the pod's log directory, following no
// symlink, and a FIFO there is refused at once instead of blocking.
func TestSinkOpensOnlyBeneathItsDirectory(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "victim"), filepath.Join(dir, "file-link.log")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.log"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		filepath.Join(dir, "link", "escaped.log"),
		filepath.Join(dir, "file-link.log"),
		filepath.Join(dir, "..", filepath.Base(outside), "up.log"),
		filepath.Join(dir, "fifo.log"),
	} {
		done := make(chan error, 1)
		go func() { done <- newSink(Container{ID: "c", Path: path, Dir: dir}).openFile() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s was opened", path)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("opening %s blocked", path)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("files made outside the log directory: %v", entries)
	}
	s := newSink(Container{ID: "c", Path: filepath.Join(dir, "ctr", "0.log"), Dir: dir})
	if err := s.openFile(); err != nil {
		t.Fatalf("a new file in a new subdirectory: %v", err)
	}
	s.file.Close()
	// A log directory the kubelet has not made yet is made.
	newDir := filepath.Join(dir, "pod-logs")
	s = newSink(Container{ID: "c", Path: filepath.Join(newDir, "c.log"), Dir: newDir})
	if err := s.openFile(); err != nil {
		t.Fatalf("a new log directory: %v", err)
	}
	s.file.Close()
}
