package network

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const bridgeConflist = `{"cniVersion": "1.0.0", "name": "pods", "plugins": [
  {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local", "subnet": "10.1.0.0/24"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}`

func fixture(t *testing.T, plugins ...string) *CNI {
	t.Helper()
	c := &CNI{ConfDir: t.TempDir(), PluginDirs: []string{t.TempDir()}}
	for _, p := range append(plugins, "loopback") {
		if err := os.WriteFile(filepath.Join(c.PluginDirs[0], p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadNetwork(t *testing.T) {
	c := fixture(t, "bridge", "portmap")
	write(t, c.ConfDir, "10-pods.conflist", bridgeConflist)
	list, err := c.LoadNetwork()
	if err != nil {
		t.Fatal(err)
	}
	if list.Name != "pods" || len(list.Plugins) != 2 {
		t.Fatalf("loaded %+v", list)
	}
}

func TestLoadNetworkSingleConf(t *testing.T) {
	c := fixture(t, "bridge")
	write(t, c.ConfDir, "10-pods.conf", `{"cniVersion": "0.4.0", "name": "single", "type": "bridge"}`)
	list, err := c.LoadNetwork()
	if err != nil {
		t.Fatal(err)
	}
	if list.Name != "single" {
		t.Fatalf("loaded %+v", list)
	}
}

func TestLoadNetworkProblems(t *testing.T) {
	t.Run("missing directory", func(t *testing.T) {
		c := fixture(t)
		c.ConfDir = "/nonexistent/net.d"
		_, err := c.LoadNetwork()
		if !errors.Is(err, ErrNoConfig) || !strings.Contains(err.Error(), "/nonexistent/net.d") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("empty directory", func(t *testing.T) {
		c := fixture(t)
		if _, err := c.LoadNetwork(); !errors.Is(err, ErrNoConfig) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("plugin missing", func(t *testing.T) {
		c := fixture(t, "bridge")
		write(t, c.ConfDir, "10-pods.conflist", bridgeConflist)
		_, err := c.LoadNetwork()
		if err == nil || !strings.Contains(err.Error(), `"portmap"`) {
			t.Fatalf("got %v, want the missing plugin named", err)
		}
	})
	t.Run("broken file falls through to the next", func(t *testing.T) {
		c := fixture(t, "bridge", "portmap")
		write(t, c.ConfDir, "05-broken.conflist", "{")
		write(t, c.ConfDir, "10-pods.conflist", bridgeConflist)
		list, err := c.LoadNetwork()
		if err != nil || list.Name != "pods" {
			t.Fatalf("got %v, %v", list, err)
		}
	})
}
