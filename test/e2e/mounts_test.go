//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// mountTmpfs mounts a tmpfs at dir on the host until the test ends.
func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
}

func isMountPoint(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// TestMountTreesAndPropagation: a host path is bound with its submounts; a
// read-only mount leaves them writable unless it is recursively read-only;
// BIDIRECTIONAL propagates mounts both ways, HOST_TO_CONTAINER only in;
// and the host's own mounts are all there after the pod is gone.
func TestMountTreesAndPropagation(t *testing.T) {
	pod := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "mount-trees")
	rt, ctx := pod.client, pod.ctx
	exec := func(id string, script string) (string, int32) {
		t.Helper()
		r, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", script}, Timeout: 10})
		if err != nil {
			t.Fatal(err)
		}
		return string(r.GetStdout()) + string(r.GetStderr()), r.GetExitCode()
	}

	tree := t.TempDir()
	mountTmpfs(t, filepath.Join(tree, "sub"))
	withMounts := func(mounts ...*runtimeapi.Mount) func(*runtimeapi.ContainerConfig) {
		return func(c *runtimeapi.ContainerConfig) {
			c.Mounts = mounts
			c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{Privileged: true}}
		}
	}
	ro := pod.run("ro", "echo ready; exec sleep 3600", "ready", withMounts(
		&runtimeapi.Mount{HostPath: tree, ContainerPath: "/ro", Readonly: true},
		&runtimeapi.Mount{HostPath: tree, ContainerPath: "/rro", Readonly: true, RecursiveReadOnly: true},
	))
	if out, code := exec(ro, "touch /ro/sub/file && ! touch /ro/file"); code != 0 {
		t.Errorf("read-only mount: its submount should be writable and its top not: %s", out)
	}
	if out, code := exec(ro, "! touch /rro/sub/other && ! touch /rro/file && ls /rro/sub/file"); code != 0 {
		t.Errorf("recursively read-only mount: nothing should be writable, the submount shown: %s", out)
	}

	// A shared host path, as critest makes one.
	shared := t.TempDir()
	if err := unix.Mount(shared, shared, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(shared, unix.MNT_DETACH) })
	if err := unix.Mount("", shared, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		t.Fatal(err)
	}
	both := pod.run("bidirectional", "echo ready; exec sleep 3600", "ready", withMounts(
		&runtimeapi.Mount{HostPath: shared, ContainerPath: "/both", Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL},
		&runtimeapi.Mount{HostPath: shared, ContainerPath: "/in", Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
		&runtimeapi.Mount{HostPath: shared, ContainerPath: "/none", Propagation: runtimeapi.MountPropagation_PROPAGATION_PRIVATE},
	))
	mountTmpfs(t, filepath.Join(shared, "from-host"))
	if err := os.WriteFile(filepath.Join(shared, "from-host", "flag"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := exec(both, "ls /both/from-host/flag /in/from-host/flag && ! ls /none/from-host/flag"); code != 0 {
		t.Errorf("a host mount should show in the bidirectional and host-to-container mounts, not the private one: %s", out)
	}
	if out, code := exec(both, "mkdir -p /both/from-ctr && mount -t tmpfs tmpfs /both/from-ctr && touch /both/from-ctr/flag"); code != 0 {
		t.Fatalf("mount in the container: %s", out)
	}
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(shared, "from-ctr"), unix.MNT_DETACH) })
	deadline := time.Now().Add(5 * time.Second)
	for !fileExists(filepath.Join(shared, "from-ctr", "flag")) {
		if time.Now().After(deadline) {
			t.Fatalf("a mount made in the bidirectional mount does not show on the host")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, code := exec(both, "mkdir -p /in/from-ctr-in && mount -t tmpfs tmpfs /in/from-ctr-in"); code != 0 {
		t.Fatalf("mount in the container: %s", out)
	}
	if isMountPoint(t, filepath.Join(shared, "from-ctr-in")) {
		t.Errorf("a mount made in the host-to-container mount shows on the host")
	}

	for _, id := range []string{ro, both} {
		if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.id}); err != nil {
		t.Fatal(err)
	}
	// The host's own mounts are untouched.
	for _, dir := range []string{filepath.Join(tree, "sub"), filepath.Join(shared, "from-host"), shared} {
		if !isMountPoint(t, dir) {
			t.Errorf("the host's mount %s is gone after the pod stopped", dir)
		}
	}
	if !fileExists(filepath.Join(tree, "sub", "file")) {
		t.Errorf("the file the container wrote in the host's tmpfs is gone")
	}
}
