package network

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordingPlugin is a CNI plugin that logs each call to log and answers
// ADD with one IP.
func recordingPlugin(log string) string {
	return `#!/bin/sh
echo "$CNI_COMMAND $CNI_IFNAME $(basename "$0")" >>` + log + `
case "$CNI_COMMAND" in
ADD) echo '{"cniVersion":"1.0.0","ips":[{"address":"10.1.0.5/24"}]}' ;;
VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
esac
`
}

// A pod's network is deleted with the config it was added with, even
// after the config directory lost it: its IP would leak otherwise.
func TestTeardownUsesCachedConfigWhenConfigIsGone(t *testing.T) {
	c := fixture(t)
	c.CacheDir = t.TempDir()
	log := filepath.Join(t.TempDir(), "calls")
	for _, p := range []string{"bridge", "portmap", "loopback"} {
		if err := os.WriteFile(filepath.Join(c.PluginDirs[0], p), []byte(recordingPlugin(log)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, c.ConfDir, "10-pods.conflist", bridgeConflist)
	pod := Pod{ID: "pod1", Name: "p", Namespace: "ns", UID: "u", NetNS: "/run/netns/absent-for-test"}
	ips, err := c.Setup(context.Background(), pod)
	if err != nil {
		t.Fatal(err)
	}
	if len(ips) != 1 || ips[0] != "10.1.0.5" {
		t.Fatalf("ips %v", ips)
	}
	if err := os.Remove(filepath.Join(c.ConfDir, "10-pods.conflist")); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Teardown(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	calls := strings.TrimSpace(string(b))
	// libcni runs DEL through the chain in reverse.
	if calls != "DEL eth0 portmap\nDEL eth0 bridge\nDEL lo loopback" && calls != "DEL lo loopback\nDEL eth0 portmap\nDEL eth0 bridge" {
		t.Fatalf("DEL calls:\n%s", calls)
	}
	// Done once: the cache entry went with the DEL, and a second teardown
	// (a retried RemovePodSandbox) finds nothing to do and no config.
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Teardown(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(log); len(b) != 0 {
		t.Fatalf("second teardown called plugins:\n%s", b)
	}
}
