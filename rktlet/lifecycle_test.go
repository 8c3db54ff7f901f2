package rktlet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/store"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var bg = context.Background()

// A pod and a container through their whole life, as the kubelet drives
// them: every step's state as the RPCs report it, and what each left on
// disk and asked of systemd, rkt and the limiter.
func TestPodAndContainerLifecycle(t *testing.T) {
	w := newWorld(t)
	podID, podCfg := w.runPod("web")
	if got := w.podState(podID); got != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("pod state after RunPodSandbox = %s", got)
	}
	sb, _ := w.s.sandboxes.Get(podID)
	if sb.RktUUID == "" || sb.Phase != store.PhaseCreated {
		t.Fatalf("pod record after start: uuid %q phase %q", sb.RktUUID, sb.Phase)
	}

	id := w.createContainer(podID, podCfg, containerConfig("main", "sleep", "3600"))
	if got := w.containerState(id).GetState(); got != runtimeapi.ContainerState_CONTAINER_CREATED {
		t.Fatalf("state after CreateContainer = %s", got)
	}
	c, _ := w.s.containers.Get(id)
	opts, ok := w.rkt.options(c.App)
	if !ok || !slices.Equal(opts.Exec, []string{"sleep", "3600"}) || opts.User != "0" || opts.Group != "0" {
		t.Fatalf("rkt app add options %+v (added %v)", opts, ok)
	}

	if _, err := w.s.StartContainer(bg, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	st := w.containerState(id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING || st.GetStartedAt() == 0 {
		t.Fatalf("status after StartContainer: %v", st)
	}
	if _, err := w.s.StartContainer(bg, &runtimeapi.StartContainerRequest{ContainerId: id}); status.Code(toGRPC(err)) != codes.FailedPrecondition {
		t.Fatalf("a second StartContainer: %v, want FailedPrecondition", err)
	}

	exec, err := w.s.ExecSync(bg, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"echo", "hi"}, Timeout: 10})
	if err != nil || string(exec.GetStdout()) != "echo hi" || exec.GetExitCode() != 0 {
		t.Fatalf("ExecSync: %v %v", exec, err)
	}

	list, err := w.s.ListContainers(bg, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		PodSandboxId: podID[:12], LabelSelector: map[string]string{"container": "main"},
	}})
	if err != nil || len(list.GetContainers()) != 1 || list.GetContainers()[0].GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("ListContainers by pod prefix and label: %v %v", list, err)
	}
	list, _ = w.s.ListContainers(bg, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"container": "other"}}})
	if len(list.GetContainers()) != 0 {
		t.Fatalf("ListContainers by another label: %v", list)
	}

	if _, err := w.s.StopContainer(bg, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 10}); err != nil {
		t.Fatal(err)
	}
	st = w.containerState(id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || st.GetExitCode() != 128+int32(syscall.SIGTERM) || st.GetReason() != "Error" {
		t.Fatalf("status after StopContainer: %v", st)
	}
	if !slices.Contains(w.apps.signals, c.App+" 15") {
		t.Fatalf("no SIGTERM through the app's cgroup: %v", w.apps.signals)
	}
	// Stopping again, or an unknown container, is not an error.
	for _, id := range []string{id, strings.Repeat("f", 64)} {
		if _, err := w.s.StopContainer(bg, &runtimeapi.StopContainerRequest{ContainerId: id}); err != nil {
			t.Fatalf("StopContainer %s again: %v", id, err)
		}
	}

	if _, err := w.s.RemoveContainer(bg, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.ContainerStatus(bg, &runtimeapi.ContainerStatusRequest{ContainerId: id}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("ContainerStatus of a removed container: %v", err)
	}
	if !slices.Contains(w.rkt.removed, c.App) || !w.limits.wasReleased(id) {
		t.Fatalf("RemoveContainer: rkt removed %v, limiter released %v", w.rkt.removed, w.limits.released)
	}
	if _, err := os.Stat(filepath.Join(w.s.config.StateDir, "containers", id+".json")); !os.IsNotExist(err) {
		t.Fatalf("the removed container's record is still there: %v", err)
	}

	if _, err := w.s.StopPodSandbox(bg, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if got := w.podState(podID); got != runtimeapi.PodSandboxState_SANDBOX_NOTREADY || !w.sd.stopped(sb.Unit) {
		t.Fatalf("after StopPodSandbox: state %s, unit stopped %v", got, w.sd.stopped(sb.Unit))
	}
	if _, err := w.s.StopPodSandbox(bg, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("a second StopPodSandbox: %v", err)
	}
	if _, err := w.s.RemovePodSandbox(bg, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.PodSandboxStatus(bg, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("PodSandboxStatus of a removed pod: %v", err)
	}
	if !slices.Contains(w.rkt.removed, "pod:"+sb.RktUUID) || !slices.Contains(w.logs.finished, podID) {
		t.Fatalf("RemovePodSandbox: rkt removed %v, logs finished %v", w.rkt.removed, w.logs.finished)
	}
	for _, f := range []string{podID + ".json", podID + ".uuid"} {
		if _, err := os.Stat(filepath.Join(w.s.config.StateDir, "sandboxes", f)); !os.IsNotExist(err) {
			t.Fatalf("%s is still there after RemovePodSandbox: %v", f, err)
		}
	}
}

// A container whose process exits at once: StartContainer still succeeds
// (it ran), and the exit is the container's to report.
func TestStartContainerThatExitsAtOnce(t *testing.T) {
	w := newWorld(t)
	podID, podCfg := w.runPod("job")
	id := w.createContainer(podID, podCfg, containerConfig("once", "true"))
	if _, err := w.s.StartContainer(bg, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	st := w.containerState(id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || st.GetExitCode() != 0 || st.GetReason() != "Completed" {
		t.Fatalf("status: %v", st)
	}
	if _, err := w.s.UpdateContainerResources(bg, &runtimeapi.UpdateContainerResourcesRequest{
		ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 1 << 26},
	}); status.Code(toGRPC(err)) != codes.FailedPrecondition {
		t.Fatalf("updating an exited container: %v, want FailedPrecondition", err)
	}
}

// A start rkt refuses leaves the container EXITED with reason StartError,
// never RUNNING, and what it started is killed.
func TestStartContainerFails(t *testing.T) {
	w := newWorld(t)
	podID, podCfg := w.runPod("bad")
	id := w.createContainer(podID, podCfg, containerConfig("main", "sleep", "1"))
	c, _ := w.s.containers.Get(id)
	w.rkt.mu.Lock()
	delete(w.rkt.added, c.App) // rkt app start now fails: no such app
	w.rkt.mu.Unlock()
	if _, err := w.s.StartContainer(bg, &runtimeapi.StartContainerRequest{ContainerId: id}); err == nil {
		t.Fatal("StartContainer of an app rkt does not know succeeded")
	}
	st := w.containerState(id)
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || st.GetReason() != "StartError" || st.GetExitCode() != 128 {
		t.Fatalf("status after a failed start: %v", st)
	}
	if _, err := w.s.RemoveContainer(bg, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("removing a container whose start failed: %v", err)
	}
}

// Bad input, and a pod in the wrong state, are refused with their code,
// naming what was wrong, and leave nothing behind.
func TestCreateContainerRefusals(t *testing.T) {
	w := newWorld(t)
	podID, podCfg := w.runPod("refusals")
	hostDir := filepath.Join(t.TempDir(), "made-by-rktlet")
	for _, tc := range []struct {
		name  string
		pod   string
		cfg   *runtimeapi.ContainerConfig
		code  codes.Code
		names string
	}{
		{"no config", podID, nil, codes.InvalidArgument, "config.metadata"},
		{"no name", podID, &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{}, Image: &runtimeapi.ImageSpec{Image: "busybox:latest"}}, codes.InvalidArgument, "config.metadata.name"},
		{"no image", podID, &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "x"}}, codes.InvalidArgument, "config.image.image"},
		{"unknown pod", strings.Repeat("0", 64), containerConfig("x"), codes.NotFound, "pod sandbox"},
		{"image not pulled", podID, func() *runtimeapi.ContainerConfig {
			c := containerConfig("x")
			c.Image.Image = "nginx:latest"
			return c
		}(), codes.NotFound, "nginx:latest"},
		{"log path leaving the log directory", podID, func() *runtimeapi.ContainerConfig {
			c := containerConfig("x")
			c.LogPath = "../../etc/x.log"
			return c
		}(), codes.OK, ""}, // the pod has no log directory: no log is written
		{"relative masked path", podID, func() *runtimeapi.ContainerConfig {
			c := containerConfig("x")
			c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: hostDir}}
			c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{MaskedPaths: []string{"proc/kcore"}}}
			return c
		}(), codes.InvalidArgument, "masked_paths"},
		{"bidirectional mount, not privileged", podID, func() *runtimeapi.ContainerConfig {
			c := containerConfig("x")
			c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: hostDir, Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL}}
			return c
		}(), codes.InvalidArgument, "config.mounts[0]"},
		{"negative memory limit", podID, func() *runtimeapi.ContainerConfig {
			c := containerConfig("x")
			c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: hostDir}}
			c.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: -5}}
			return c
		}(), codes.InvalidArgument, "memory_limit_in_bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.code == codes.OK {
				return
			}
			before := len(w.s.containers.List())
			_, err := w.s.CreateContainer(bg, &runtimeapi.CreateContainerRequest{PodSandboxId: tc.pod, Config: tc.cfg, SandboxConfig: podCfg})
			if got := status.Code(toGRPC(err)); got != tc.code || !strings.Contains(err.Error(), tc.names) {
				t.Fatalf("got %v (%s), want %s naming %q", err, got, tc.code, tc.names)
			}
			if after := len(w.s.containers.List()); after != before {
				t.Fatalf("%d containers after a refused request, %d before", after, before)
			}
			if _, err := os.Stat(hostDir); !os.IsNotExist(err) {
				t.Fatalf("a refused request made the host path %s", hostDir)
			}
		})
	}

	// rkt refusing the app: nothing stays, the cgroup is released.
	w.rkt.addErr = errors.New("rkt: app add failed")
	_, err := w.s.CreateContainer(bg, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: containerConfig("x"), SandboxConfig: podCfg})
	w.rkt.addErr = nil
	if err == nil || len(w.s.containers.List()) != 0 || len(w.limits.released) != 1 {
		t.Fatalf("rkt app add failing: %v, %d containers, released %v", err, len(w.s.containers.List()), w.limits.released)
	}

	// The same name and attempt twice: AlreadyExists, the first kept.
	first := w.createContainer(podID, podCfg, containerConfig("twice"))
	_, err = w.s.CreateContainer(bg, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: containerConfig("twice"), SandboxConfig: podCfg})
	if status.Code(toGRPC(err)) != codes.AlreadyExists || !strings.Contains(err.Error(), first) {
		t.Fatalf("the same container twice: %v", err)
	}

	// A pod that is not ready takes no container.
	if _, err := w.s.StopPodSandbox(bg, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	_, err = w.s.CreateContainer(bg, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: containerConfig("late"), SandboxConfig: podCfg})
	if status.Code(toGRPC(err)) != codes.FailedPrecondition {
		t.Fatalf("a container in a stopped pod: %v, want FailedPrecondition", err)
	}
	// Its container that never started is EXITED now, with its pod.
	if st := w.containerState(first); st.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED {
		t.Fatalf("a created container of a stopped pod: %v", st)
	}
}

// The CRI container config → `rkt app add` options, as CreateContainer
// assembles them.
func TestCreateContainerAssembly(t *testing.T) {
	w := newWorld(t)
	podID, podCfg := w.runPod("assembly")
	w.addImage("nobody:latest", "65534")
	hostDir := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		name  string
		cfg   func(*runtimeapi.ContainerConfig)
		check func(t *testing.T, o cli.AppAddOptions)
	}{
		{"image user", func(c *runtimeapi.ContainerConfig) { c.Image.Image = "nobody:latest" }, func(t *testing.T, o cli.AppAddOptions) {
			if o.User != "65534" || o.Group != "0" {
				t.Errorf("user %q group %q", o.User, o.Group)
			}
		}},
		{"run as user and group, env, workdir", func(c *runtimeapi.ContainerConfig) {
			c.Envs = []*runtimeapi.KeyValue{{Key: "A", Value: []byte("1")}}
			c.WorkingDir = "/srv"
			c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				RunAsUser: &runtimeapi.Int64Value{Value: 1000}, RunAsGroup: &runtimeapi.Int64Value{Value: 2000},
				SupplementalGroups: []int64{3000},
			}}
		}, func(t *testing.T, o cli.AppAddOptions) {
			if o.User != "1000" || o.Group != "2000" || !slices.Contains(o.SupplementaryGIDs, 3000) || o.WorkingDir != "/srv" || !slices.Contains(o.Env, "A=1") {
				t.Errorf("options %+v", o)
			}
		}},
		{"default capabilities", func(*runtimeapi.ContainerConfig) {}, func(t *testing.T, o cli.AppAddOptions) {
			if !slices.Contains(o.RetainCapabilities, "CAP_CHOWN") || slices.Contains(o.RetainCapabilities, "CAP_NET_ADMIN") || slices.Contains(o.RetainCapabilities, "CAP_SYS_ADMIN") {
				t.Errorf("retain %v remove %v", o.RetainCapabilities, o.RemoveCapabilities)
			}
		}},
		{"added capability", func(c *runtimeapi.ContainerConfig) {
			c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"NET_ADMIN"}},
			}}
		}, func(t *testing.T, o cli.AppAddOptions) {
			if !slices.Contains(o.RetainCapabilities, "CAP_NET_ADMIN") {
				t.Errorf("retain %v", o.RetainCapabilities)
			}
		}},
		{"read-only rootfs, masked and read-only paths, no_new_privs, oom_score_adj", func(c *runtimeapi.ContainerConfig) {
			c.Linux = &runtimeapi.LinuxContainerConfig{
				SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
					ReadonlyRootfs: true, NoNewPrivs: true, MaskedPaths: []string{"/proc/kcore"}, ReadonlyPaths: []string{"/proc/sys"},
				},
				Resources: &runtimeapi.LinuxContainerResources{OomScoreAdj: 999},
			}
		}, func(t *testing.T, o cli.AppAddOptions) {
			if !o.ReadOnlyRootfs || !o.NoNewPrivileges || !slices.Equal(o.MaskedPaths, []string{"/proc/kcore"}) || !slices.Equal(o.ReadonlyPaths, []string{"/proc/sys"}) || o.OOMScoreAdj != 999 {
				t.Errorf("options %+v", o)
			}
		}},
		{"host path mount made once the request is valid", func(c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: hostDir}}
		}, func(t *testing.T, o cli.AppAddOptions) {
			if len(o.Mounts) != 1 {
				t.Errorf("mounts %v", o.Mounts)
			}
			if fi, err := os.Stat(hostDir); err != nil || !fi.IsDir() {
				t.Errorf("host path %s not made: %v", hostDir, err)
			}
		}},
		{"bidirectional mount in a privileged container", func(c *runtimeapi.ContainerConfig) {
			c.Mounts = []*runtimeapi.Mount{{ContainerPath: "/mnt", HostPath: t.TempDir(), Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL}}
			c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{Privileged: true}}
		}, func(t *testing.T, o cli.AppAddOptions) {
			if !o.PodMountNamespace {
				t.Errorf("options %+v", o)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := containerConfig(strings.ReplaceAll(tc.name, " ", "-"), "sleep", "1")
			tc.cfg(cfg)
			id := w.createContainer(podID, podCfg, cfg)
			c, _ := w.s.containers.Get(id)
			o, ok := w.rkt.options(c.App)
			if !ok || o.Name != c.App {
				t.Fatalf("app %s not added (%+v)", c.App, o)
			}
			tc.check(t, o)
		})
	}
}

// Concurrent identical RunPodSandbox calls (a kubelet retrying while the
// first still runs) make one pod; a stopped pod's name is taken.
func TestRunPodSandboxIdempotent(t *testing.T) {
	w := newWorld(t)
	cfg := podConfig("retry")
	ids := make([]string, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := w.s.RunPodSandbox(bg, &runtimeapi.RunPodSandboxRequest{Config: cfg})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = resp.GetPodSandboxId()
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent identical calls made different pods: %v", ids)
		}
	}
	if n := len(w.s.sandboxes.List()); n != 1 {
		t.Fatalf("%d pods", n)
	}
	if _, err := w.s.StopPodSandbox(bg, &runtimeapi.StopPodSandboxRequest{PodSandboxId: ids[0]}); err != nil {
		t.Fatal(err)
	}
	_, err := w.s.RunPodSandbox(bg, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if status.Code(toGRPC(err)) != codes.AlreadyExists {
		t.Fatalf("the name of a stopped pod: %v, want AlreadyExists", err)
	}
}

// A pod whose unit does not start is undone: no record, no UUID file, and
// the same pod can be asked for again.
func TestRunPodSandboxUndo(t *testing.T) {
	w := newWorld(t)
	w.sd.startErr = errors.New("unit failed")
	_, err := w.s.RunPodSandbox(bg, &runtimeapi.RunPodSandboxRequest{Config: podConfig("flaky")})
	if err == nil {
		t.Fatal("RunPodSandbox succeeded with a unit that does not start")
	}
	if code := status.Code(toGRPC(err)); code != codes.Unavailable {
		t.Fatalf("code %s, want Unavailable: %v", code, err)
	}
	if n := len(w.s.sandboxes.List()); n != 0 {
		t.Fatalf("%d pods after a failed start", n)
	}
	entries, _ := os.ReadDir(filepath.Join(w.s.config.StateDir, "sandboxes"))
	if len(entries) != 0 {
		t.Fatalf("a failed start left %v", entries)
	}
	w.sd.startErr = nil
	if id, _ := w.runPod("flaky"); w.podState(id) != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatal("the retried pod is not ready")
	}
}

// A stage1 image that does not import refuses the pod before anything is
// made; the pod unit runs the stored stage1 by its ID.
func TestRunPodSandboxStage1(t *testing.T) {
	w := newWorld(t)
	w.stage1.err = errors.New("importing stage1 image /s1.aci into rkt's store: not an ACI")
	_, err := w.s.RunPodSandbox(bg, &runtimeapi.RunPodSandboxRequest{Config: podConfig("s1")})
	if code := status.Code(toGRPC(err)); code != codes.FailedPrecondition || !strings.Contains(err.Error(), "/s1.aci") {
		t.Fatalf("code %s, want FailedPrecondition naming the image: %v", code, err)
	}
	w.sd.mu.Lock()
	units := len(w.sd.units)
	w.sd.mu.Unlock()
	if n := len(w.s.sandboxes.List()); n != 0 || units != 0 {
		t.Fatalf("%d pods and %d units after a refused start", n, units)
	}
	w.stage1.err = nil
	id, _ := w.runPod("s1")
	sb, err := w.s.sandboxes.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	w.sd.mu.Lock()
	exec := fmt.Sprint(w.sd.units[sb.Unit].props["ExecStart"])
	w.sd.mu.Unlock()
	if !strings.Contains(exec, "--stage1-hash=sha512-57a9e1") || strings.Contains(exec, "--stage1-path") {
		t.Fatalf("ExecStart %s does not run the stored stage1", exec)
	}
}

// Removing a running pod stops it first and takes its containers.
func TestRemoveRunningPod(t *testing.T) {
	w := newWorld(t)
	podID, podCfg := w.runPod("busy")
	id := w.createContainer(podID, podCfg, containerConfig("main", "sleep", "3600"))
	if _, err := w.s.StartContainer(bg, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.RemovePodSandbox(bg, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if len(w.s.sandboxes.List()) != 0 || len(w.s.containers.List()) != 0 || !w.limits.wasReleased(id) {
		t.Fatalf("after removing a running pod: %d pods, %d containers, released %v", len(w.s.sandboxes.List()), len(w.s.containers.List()), w.limits.released)
	}
	// Removing it again, or a pod never known, is not an error.
	for _, id := range []string{podID, strings.Repeat("e", 64)} {
		if _, err := w.s.RemovePodSandbox(bg, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatalf("RemovePodSandbox %s again: %v", id, err)
		}
	}
}

// A pod whose apps all ended has its network taken down while its unit
// stops; one with an app still running only after the stop, so the app
// keeps its network while it shuts down. The unit's stop is held until
// the teardown has happened, or for a while to show that it does not.
func TestStopPodSandboxNetworkOrder(t *testing.T) {
	for _, running := range []bool{false, true} {
		t.Run(fmt.Sprintf("app running %v", running), func(t *testing.T) {
			w := newWorld(t)
			podID, podCfg := w.runPod("net")
			// As if on the CNI network, with a namespace already gone.
			if _, err := w.s.sandboxes.Replace(podID, func(next *store.Sandbox) {
				next.HostNetwork, next.NetNS = false, filepath.Join(t.TempDir(), "netns")
			}); err != nil {
				t.Fatal(err)
			}
			id := w.createContainer(podID, podCfg, containerConfig("main", "sleep", "3600"))
			if running {
				if _, err := w.s.StartContainer(bg, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
					t.Fatal(err)
				}
			}
			before := w.net.teardownCount()
			var duringStop int
			w.sd.mu.Lock()
			w.sd.duringStop = func() {
				// Bounded: when the teardown waits for the stop, it
				// never comes, and the test goes on to say so.
				for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					if w.net.teardownCount() > before {
						break
					}
				}
				duringStop = w.net.teardownCount() - before
			}
			w.sd.mu.Unlock()
			if _, err := w.s.StopPodSandbox(bg, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
				t.Fatal(err)
			}
			after := w.net.teardownCount() - before
			if want := map[bool]int{false: 1, true: 0}[running]; duringStop != want || after != 1 {
				t.Fatalf("network teardowns: %d during the unit's stop (want %d), %d in all (want 1)", duringStop, want, after)
			}
		})
	}
}

// UpdateContainerResources hands a running container's new limits to the
// limiter, and ContainerStatus reports them, also after a restart.
func TestUpdateContainerResources(t *testing.T) {
	w := newWorld(t)
	podID, podCfg := w.runPod("resize")
	id := w.createContainer(podID, podCfg, containerConfig("main", "sleep", "3600"))
	if _, err := w.s.StartContainer(bg, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	r := &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20, CpuQuota: 50000, CpuPeriod: 100000}
	if _, err := w.s.UpdateContainerResources(bg, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: r}); err != nil {
		t.Fatal(err)
	}
	c, _ := w.s.containers.Get(id)
	if got := w.limits.updated[c.App]; got.GetMemoryLimitInBytes() != 64<<20 {
		t.Fatalf("the limiter got %v", got)
	}
	if got := w.containerState(id).GetResources().GetLinux(); got.GetCpuQuota() != 50000 || got.GetMemoryLimitInBytes() != 64<<20 {
		t.Fatalf("ContainerStatus.resources after the update: %v", got)
	}
	w.s = w.restart(w.s.config)
	if got := w.containerState(id).GetResources().GetLinux(); got.GetMemoryLimitInBytes() != 64<<20 {
		t.Fatalf("ContainerStatus.resources after a restart: %v", got)
	}
	for _, bad := range []*runtimeapi.UpdateContainerResourcesRequest{
		{ContainerId: id},
		{ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{CpuShares: -1}},
		{ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{Unified: map[string]string{"cgroup.procs": "1"}}},
	} {
		if _, err := w.s.UpdateContainerResources(bg, bad); status.Code(toGRPC(err)) != codes.InvalidArgument {
			t.Errorf("update %v: %v, want InvalidArgument", bad.GetLinux(), err)
		}
	}
}
