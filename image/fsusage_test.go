package image

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirUsage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), make([]byte, 10000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	u, err := DirUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	// dir, a (= b), sub
	if u.Inodes != 3 {
		t.Errorf("inodes %d, want 3 (hard links counted once)", u.Inodes)
	}
	if u.Bytes < 10000 {
		t.Errorf("bytes %d, want at least the file's 10000", u.Bytes)
	}
	if u.Mountpoint == "" {
		t.Error("no mountpoint")
	}
}

func TestDirUsageMissing(t *testing.T) {
	u, err := DirUsage(filepath.Join(t.TempDir(), "not-yet"))
	if err != nil || u.Inodes != 0 || u.Bytes != 0 {
		t.Fatalf("got %+v, %v; want zero usage for a missing dir", u, err)
	}
}

func TestMountpoint(t *testing.T) {
	for path, want := range map[string]string{"/proc/self/status": "/proc", "/": "/", "/proc/no/such/file": "/proc"} {
		if got, err := Mountpoint(path); err != nil || got != want {
			t.Errorf("Mountpoint(%s) = %q, %v; want %q", path, got, err, want)
		}
	}
}
