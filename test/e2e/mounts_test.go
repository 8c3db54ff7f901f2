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

// sh runs script in the container with ExecSync: its output (stdout then
// stderr) and exit code.
func (p *grpcPod) sh(id, script string) (string, int32) {
	p.t.Helper()
	r, err := p.client.ExecSync(p.ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", script}, Timeout: 10})
	if err != nil {
		p.t.Fatal(err)
	}
	return string(r.GetStdout()) + string(r.GetStderr()), r.GetExitCode()
}

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
	if out, code := pod.sh(ro, "touch /ro/sub/file && ! touch /ro/file"); code != 0 {
		t.Errorf("read-only mount: its submount should be writable and its top not: %s", out)
	}
	if out, code := pod.sh(ro, "! touch /rro/sub/other && ! touch /rro/file && ls /rro/sub/file"); code != 0 {
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
	if out, code := pod.sh(both, "ls /both/from-host/flag /in/from-host/flag && ! ls /none/from-host/flag"); code != 0 {
		t.Errorf("a host mount should show in the bidirectional and host-to-container mounts, not the private one: %s", out)
	}
	if out, code := pod.sh(both, "mkdir -p /both/from-ctr && mount -t tmpfs tmpfs /both/from-ctr && touch /both/from-ctr/flag"); code != 0 {
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
	if out, code := pod.sh(both, "mkdir -p /in/from-ctr-in && mount -t tmpfs tmpfs /in/from-ctr-in"); code != 0 {
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

// TestDevices: a CRI device is the host's device node at the container
// path, usable as its permissions say (the app unit's device policy, which
// exec'd commands are under too); a device not given cannot be used even
// when its node is made; bad devices are refused naming the field.
func TestDevices(t *testing.T) {
	pod := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "devices")
	id := pod.run("devices", "echo ready; exec sleep 3600", "ready", func(c *runtimeapi.ContainerConfig) {
		c.Devices = []*runtimeapi.Device{
			{HostPath: "/dev/zero", ContainerPath: "/dev/rktlet-zero", Permissions: "rw"},
			{HostPath: "/dev/cpu_dma_latency", ContainerPath: "/dev/rktlet-latency", Permissions: "r"},
			{HostPath: "/dev/kmsg", ContainerPath: "/dev/rktlet-kmsg", Permissions: "rw"},
		}
	})
	if out, code := pod.sh(id, "head -c 4 /dev/rktlet-zero | od -An -tx1"); code != 0 || strings.TrimSpace(out) != "00 00 00 00" {
		t.Errorf("reading the zero device: %d %q", code, out)
	}
	if out, code := pod.sh(id, "echo x > /dev/rktlet-zero"); code != 0 {
		t.Errorf("writing the rw zero device: %d %q", code, out)
	}
	if out, code := pod.sh(id, "head -c 4 /dev/rktlet-latency | wc -c"); code != 0 || strings.TrimSpace(out) != "4" {
		t.Errorf("reading the r-only latency device: %d %q", code, out)
	}
	if out, code := pod.sh(id, "printf 0 > /dev/rktlet-latency"); code == 0 || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("writing the r-only latency device: %d %q, want EPERM", code, out)
	}
	if out, code := pod.sh(id, "echo rktlet e2e: a device given rw > /dev/rktlet-kmsg"); code != 0 {
		t.Errorf("writing the rw kmsg device: %d %q", code, out)
	}
	// A node of a device the policy allows anyway (full) can be made and
	// used; one of a device not given (mem) cannot be made.
	if out, code := pod.sh(id, "mknod /tmp/full c 1 7 && { echo x > /tmp/full; mknod /tmp/mem c 1 1; }"); code == 0 ||
		!strings.Contains(out, "No space left") || !strings.Contains(out, "mknod: /tmp/mem: Operation not permitted") {
		t.Errorf("nodes of full and of a device not given (mem): %d %q, want ENOSPC then EPERM", code, out)
	}

	for _, c := range []struct {
		dev   *runtimeapi.Device
		code  string
		names string
	}{
		{&runtimeapi.Device{HostPath: "/dev/rktlet-no-such", ContainerPath: "/dev/x", Permissions: "r"}, "NotFound", "/dev/rktlet-no-such"},
		{&runtimeapi.Device{HostPath: "/etc/hostname", ContainerPath: "/dev/x", Permissions: "r"}, "InvalidArgument", "not a device"},
		{&runtimeapi.Device{HostPath: "/dev/zero", ContainerPath: "/dev/x", Permissions: "rx"}, "InvalidArgument", "permissions"},
		{&runtimeapi.Device{HostPath: "/dev/zero", ContainerPath: "dev/x", Permissions: "r"}, "InvalidArgument", "container_path"},
	} {
		_, err := pod.create("bad-device", "true", func(cfg *runtimeapi.ContainerConfig) { cfg.Devices = []*runtimeapi.Device{c.dev} })
		if err == nil || !strings.Contains(err.Error(), "code = "+c.code) || !strings.Contains(err.Error(), c.names) {
			t.Errorf("device %v: %v, want %s naming %q", c.dev, err, c.code, c.names)
		}
	}
}
