package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rktlet.sock")
	// A socket file nobody answers on, as a killed rktlet leaves behind.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	l, lock, err := listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer lock.Close()
	defer l.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v, want 0660", fi.Mode().Perm())
	}
}

func TestListenRefusesLiveSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rktlet.sock")
	// Someone else (not holding our lock) serves on the path.
	live, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, _, err := listen(path); !errors.Is(err, errSocketInUse) {
		t.Fatalf("got %v, want errSocketInUse", err)
	}
	if conn, err := net.Dial("unix", path); err != nil {
		t.Fatalf("the live socket was disturbed: %v", err)
	} else {
		conn.Close()
	}
}

func TestListenRefusesSecondRktlet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rktlet.sock")
	l, lock, err := listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	defer l.Close()
	if _, _, err := listen(path); !errors.Is(err, errSocketInUse) {
		t.Fatalf("got %v, want errSocketInUse", err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rktlet.sock")
	if err := os.WriteFile(path, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := listen(path); err == nil {
		t.Fatal("a regular file at the socket path was replaced")
	}
	if b, _ := os.ReadFile(path); string(b) != "data" {
		t.Fatal("the regular file was changed")
	}
}
