//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runPodSandbox runs a pod from cfg over gRPC; it is stopped and removed
// when the test ends.
func runPodSandbox(t *testing.T, ctx context.Context, rt runtimeapi.RuntimeServiceClient, cfg *runtimeapi.PodSandboxConfig) string {
	t.Helper()
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	id := pod.GetPodSandboxId()
	t.Cleanup(func() {
		rt.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
		rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
	})
	return id
}

// TestThreeContainersStatusFields runs a pod with three containers (one
// exits 0, one exits 3, one keeps running) and checks ContainerStatus
// field by field for each.
func TestThreeContainersStatusFields(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	if _, err := crictl(t, socket, "pull", busybox); err != nil {
		t.Fatal(err)
	}
	rt := criClient(t, socket)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logDir := t.TempDir()
	hostDir := t.TempDir()
	podCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "three", Namespace: "e2e", Uid: "three-uid", Attempt: 1},
		LogDirectory: logDir,
	}
	podID := runPodSandbox(t, ctx, rt, podCfg)
	imgStatus, err := runtimeapi.NewImageServiceClient(criConn(t, socket)).ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: busybox}})
	if err != nil || imgStatus.GetImage() == nil {
		t.Fatalf("ImageStatus: %v", err)
	}
	imageID := imgStatus.GetImage().GetId()

	type want struct {
		name     string
		cmd      []string
		state    runtimeapi.ContainerState
		exitCode int32
		reason   string
	}
	cases := []want{
		{"Zero", []string{"sh", "-c", "echo zero"}, runtimeapi.ContainerState_CONTAINER_EXITED, 0, "Completed"},
		{"three", []string{"sh", "-c", "echo three >&2; exit 3"}, runtimeapi.ContainerState_CONTAINER_EXITED, 3, "Error"},
		{"Runner", []string{"sleep", "3600"}, runtimeapi.ContainerState_CONTAINER_RUNNING, 0, ""},
	}
	ids := map[string]string{}
	for i, c := range cases {
		cfg := &runtimeapi.ContainerConfig{
			Metadata:    &runtimeapi.ContainerMetadata{Name: c.name, Attempt: uint32(i)},
			Image:       &runtimeapi.ImageSpec{Image: busybox},
			Command:     c.cmd,
			LogPath:     c.name + ".log",
			Labels:      map[string]string{"which": c.name},
			Annotations: map[string]string{"note": "container " + c.name},
			Mounts:      []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: hostDir, Readonly: true}},
			Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
				RunAsUser: &runtimeapi.Int64Value{Value: 1000}, SupplementalGroups: []int64{1234},
			}},
		}
		resp, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
		if err != nil {
			t.Fatal(err)
		}
		ids[c.name] = resp.GetContainerId()
		if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.GetContainerId()}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)

	for i, c := range cases {
		id := ids[c.name]
		resp, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
		if err != nil {
			t.Fatal(err)
		}
		st := resp.GetStatus()
		check := func(field string, ok bool, got any) {
			t.Helper()
			if !ok {
				t.Errorf("%s: %s is %v", c.name, field, got)
			}
		}
		check("id", st.GetId() == id, st.GetId())
		check("metadata", st.GetMetadata().GetName() == c.name && st.GetMetadata().GetAttempt() == uint32(i), st.GetMetadata())
		check("state", st.GetState() == c.state, st.GetState())
		check("created_at", st.GetCreatedAt() > 0 && time.Unix(0, st.GetCreatedAt()).Before(time.Now()), st.GetCreatedAt())
		check("started_at", st.GetStartedAt() >= st.GetCreatedAt(), st.GetStartedAt())
		if c.state == runtimeapi.ContainerState_CONTAINER_EXITED {
			check("finished_at", st.GetFinishedAt() >= st.GetStartedAt(), st.GetFinishedAt())
		} else {
			check("finished_at", st.GetFinishedAt() == 0, st.GetFinishedAt())
		}
		check("exit_code", st.GetExitCode() == c.exitCode, st.GetExitCode())
		check("reason", st.GetReason() == c.reason, st.GetReason())
		check("message", st.GetMessage() == "", st.GetMessage())
		check("image", st.GetImage().GetImage() == busybox, st.GetImage())
		check("image_ref", st.GetImageRef() == imageID, st.GetImageRef())
		check("image_id", st.GetImageId() == imageID, st.GetImageId())
		check("labels", st.GetLabels()["which"] == c.name, st.GetLabels())
		check("annotations", st.GetAnnotations()["note"] == "container "+c.name, st.GetAnnotations())
		check("mounts", len(st.GetMounts()) == 1 && st.GetMounts()[0].GetContainerPath() == "/data" && st.GetMounts()[0].GetReadonly(), st.GetMounts())
		check("log_path", st.GetLogPath() == filepath.Join(logDir, c.name+".log"), st.GetLogPath())
		u := st.GetUser().GetLinux()
		check("user", u.GetUid() == 1000 && len(u.GetSupplementalGroups()) > 0, u)
		check("verbose info", resp.GetInfo()["info"] != "", resp.GetInfo())
	}
	// What they wrote is in their files.
	for name, want := range map[string]string{"Zero": "stdout F zero", "three": "stderr F three"} {
		b, err := os.ReadFile(filepath.Join(logDir, name+".log"))
		if err != nil || !containsLine(string(b), want) {
			t.Errorf("%s.log: %q %v, want a line ending %q", name, b, err, want)
		}
	}
}

func containsLine(text, suffix string) bool {
	for _, l := range splitLines(text) {
		if len(l) >= len(suffix) && l[len(l)-len(suffix):] == suffix {
			return true
		}
	}
	return false
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// startThree creates and starts three containers (exit 0, exit 3, running)
// in a new pod on rt and returns the pod ID and the container IDs.
func startThree(t *testing.T, ctx context.Context, rt runtimeapi.RuntimeServiceClient, name string) (string, []string) {
	t.Helper()
	podCfg := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "e2e", Uid: name + "-uid"}}
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, cmd := range [][]string{{"true"}, {"sh", "-c", "exit 3"}, {"sleep", "3600"}} {
		cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "c" + string(rune('0'+i))}, Image: &runtimeapi.ImageSpec{Image: busybox}, Command: cmd}
		resp, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.GetPodSandboxId(), Config: cfg, SandboxConfig: podCfg})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: resp.GetContainerId()}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetContainerId())
	}
	time.Sleep(2 * time.Second)
	return pod.GetPodSandboxId(), ids
}

type statusSummary struct {
	State             runtimeapi.ContainerState
	ExitCode          int32
	Reason            string
	Created, Started  int64
	Finished          int64
	ImageRef, LogPath string
}

func summarize(t *testing.T, ctx context.Context, rt runtimeapi.RuntimeServiceClient, id string) statusSummary {
	t.Helper()
	resp, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	s := resp.GetStatus()
	return statusSummary{s.GetState(), s.GetExitCode(), s.GetReason(), s.GetCreatedAt(), s.GetStartedAt(), s.GetFinishedAt(), s.GetImageRef(), s.GetLogPath()}
}

func TestContainerRecoveryAfterSIGKILL(t *testing.T) {
	dir, err := os.MkdirTemp("", "rktlet-e2e-ctr-recovery-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeDataDir(dir) })
	mirror := "--registry-mirror=registry.k8s.io=http://" + env(t, "TESTBED_REGISTRY")
	first := startInstanceIn(t, dir, mirror)
	if _, err := crictl(t, first.socket, "pull", busybox); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rt := criClient(t, first.socket)
	podID, ids := startThree(t, ctx, rt, "ctr-recovery")
	before := map[string]statusSummary{}
	for _, id := range ids {
		before[id] = summarize(t, ctx, rt, id)
	}
	first.cmd.Process.Kill()
	<-first.exited
	first.exited <- nil

	second := startInstanceIn(t, dir, mirror)
	rt2 := criClient(t, second.socket)
	for _, id := range ids {
		if after := summarize(t, ctx, rt2, id); after != before[id] {
			t.Errorf("container %s before the kill: %+v, after the restart: %+v", id, before[id], after)
		}
	}
	list, err := rt2.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil || len(list.GetContainers()) != 3 {
		t.Fatalf("ListContainers after the restart: %d containers, %v", len(list.GetContainers()), err)
	}
	if _, err := rt2.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt2.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
}

// TestContainerBadInput: each bad CreateContainer gets its own gRPC code,
// naming what was wrong, and leaves no rkt app in the pod.
func TestContainerBadInput(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	if _, err := crictl(t, socket, "pull", busybox); err != nil {
		t.Fatal(err)
	}
	rt := criClient(t, socket)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	podCfg := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "ctr-bad", Namespace: "e2e", Uid: "ctr-bad-uid"}}
	podID := runPodSandbox(t, ctx, rt, podCfg)
	good := func(name string) *runtimeapi.ContainerConfig {
		return &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: busybox}, Command: []string{"sleep", "60"}}
	}
	if _, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: good("taken"), SandboxConfig: podCfg}); err != nil {
		t.Fatal(err)
	}
	missingImage := good("no-image")
	missingImage.Image.Image = "registry.k8s.io/never/pulled:1"
	relContainerPath := good("rel-ctr")
	relContainerPath.Mounts = []*runtimeapi.Mount{{ContainerPath: "data", HostPath: "/tmp"}}
	relHostPath := good("rel-host")
	relHostPath.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "tmp"}}
	recursiveRO := good("rro")
	recursiveRO.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "/tmp", Readonly: false, RecursiveReadOnly: true}}
	bidirectionalRO := good("bidirectional-ro")
	bidirectionalRO.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "/tmp", Propagation: runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL}}
	bidirectionalRO.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{Privileged: true, ReadonlyRootfs: true}}
	bidirectionalUnprivileged := good("bidirectional-unprivileged")
	bidirectionalUnprivileged.Mounts = bidirectionalRO.Mounts
	maskedRel := good("masked-rel")
	maskedRel.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{ReadonlyPaths: []string{"proc/sys"}}}
	// A host path that does not exist is made only for a request found
	// valid: this one's capability is refused after its mounts were read.
	notMade := filepath.Join(t.TempDir(), "not-made", "data")
	badCapWithNewHostPath := good("bad-cap-new-host-path")
	badCapWithNewHostPath.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: notMade}}
	badCapWithNewHostPath.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
		Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"CAP_NOT_A_CAPABILITY"}}}}
	unified := func(name, key, value string) *runtimeapi.ContainerConfig {
		c := good(name)
		c.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
			Unified: map[string]string{"memory.oom.group": "1", key: value},
		}}
		return c
	}
	for _, c := range []struct {
		what  string
		pod   string
		cfg   *runtimeapi.ContainerConfig
		code  string
		names string
	}{
		{"unknown unified key", podID, unified("unified-unknown", "memory.bogus", "1"), "InvalidArgument", `unified["memory.bogus"]`},
		{"unified cgroup core file", podID, unified("unified-core", "cgroup.procs", "1"), "InvalidArgument", `unified["cgroup.procs"]`},
		{"unified value out of range", podID, unified("unified-range", "cpu.weight", "10001"), "InvalidArgument", `unified["cpu.weight"] = "10001"`},
		{"unknown sandbox", "0123456789abcdef", good("x"), "NotFound", "0123456789abcdef"},
		{"image not pulled", podID, missingImage, "NotFound", "registry.k8s.io/never/pulled:1"},
		{"duplicate name", podID, good("taken"), "AlreadyExists", "taken"},
		{"relative container path", podID, relContainerPath, "InvalidArgument", "container_path"},
		{"relative host path", podID, relHostPath, "InvalidArgument", "host_path"},
		{"recursive read-only mount not read-only", podID, recursiveRO, "InvalidArgument", "recursive_read_only"},
		{"relative read-only path", podID, maskedRel, "InvalidArgument", "readonly_paths"},
		{"bidirectional mount and read-only rootfs", podID, bidirectionalRO, "InvalidArgument", "readonly_rootfs"},
		{"bidirectional mount, not privileged", podID, bidirectionalUnprivileged, "InvalidArgument", "privileged"},
		{"unknown capability, with a new host path", podID, badCapWithNewHostPath, "InvalidArgument", "CAP_NOT_A_CAPABILITY"},
	} {
		_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: c.pod, Config: c.cfg, SandboxConfig: podCfg})
		if err == nil || !strings.Contains(err.Error(), "code = "+c.code) || !strings.Contains(err.Error(), c.names) {
			t.Errorf("%s: %v, want %s naming %q", c.what, err, c.code, c.names)
		}
	}
	if _, err := os.Stat(filepath.Dir(notMade)); !os.IsNotExist(err) {
		t.Errorf("a refused request made its host path's directory %s (%v)", filepath.Dir(notMade), err)
	}
	list, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID}})
	if err != nil || len(list.GetContainers()) != 1 {
		t.Fatalf("containers in the pod: %v %v, want only the good one", list.GetContainers(), err)
	}
	// rkt agrees: one app in the pod.
	st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		RktUUID string `json:"rktUUID"`
	}
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil {
		t.Fatal(err)
	}
	list2 := exec.Command(env(t, "RKT_PATH"), "--dir="+env(t, "RKT_DATA_DIR"), "app", "list", info.RktUUID, "--no-legend")
	list2.Env = append(os.Environ(), "RKT_EXPERIMENT_APP=true")
	out, err := list2.CombinedOutput()
	if err != nil {
		t.Fatalf("rkt app list: %v: %s", err, out)
	}
	if n := len(strings.Fields(strings.TrimSpace(string(out)))); n == 0 || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Fatalf("rkt app list shows %q, want exactly one app", out)
	}
}

// grpcPod is a pod driven over gRPC, for container settings crictl's JSON
// does not carry.
type grpcPod struct {
	t      *testing.T
	ctx    context.Context
	client runtimeapi.RuntimeServiceClient
	id     string
	config *runtimeapi.PodSandboxConfig
	logDir string
	socket string
}

func newGRPCPod(t *testing.T, socket, name string) *grpcPod {
	t.Helper()
	podID, podCfgPath, logDir := logPod(t, socket, name)
	raw, err := os.ReadFile(podCfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var podCfg runtimeapi.PodSandboxConfig
	if err := protojson.Unmarshal(raw, &podCfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return &grpcPod{t: t, ctx: ctx, client: criClient(t, socket), id: podID, config: &podCfg, logDir: logDir, socket: socket}
}

// create creates a busybox container running script, logging to
// <name>.log; adjust may change its config first.
func (p *grpcPod) create(name, script string, adjust func(*runtimeapi.ContainerConfig)) (string, error) {
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: busybox},
		Command:  []string{"sh", "-c", script},
		LogPath:  name + ".log",
	}
	if adjust != nil {
		adjust(cfg)
	}
	r, err := p.client.CreateContainer(p.ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, SandboxConfig: p.config, Config: cfg})
	return r.GetContainerId(), err
}

// run creates and starts a container and waits until its log holds want.
func (p *grpcPod) run(name, script, want string, adjust func(*runtimeapi.ContainerConfig)) string {
	p.t.Helper()
	id, err := p.create(name, script, adjust)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.client.StartContainer(p.ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		p.t.Fatal(err)
	}
	p.waitLog(name, want)
	return id
}

func (p *grpcPod) waitLog(name, want string) string {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(p.logDir, name+".log"))
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s never wrote %q: %q", name, want, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// journalOf returns what the pod's journal holds for a container, for a
// failure message: it tells output stage1 never sent to the journal from
// output rktlet did not write to the log file.
func (p *grpcPod) journalOf(id string) string {
	info, err := inspectp(p.t, p.socket, p.id)
	if err != nil {
		return fmt.Sprintf("(no pod journal: %v)", err)
	}
	out, err := exec.Command("journalctl", "-M", info.Info.Machine, "-t", "ctr-"+id[:20], "--no-pager",
		"-o", "json", "--output-fields=MESSAGE,RKT_STREAM,RKT_EOF,RKT_PARTIAL").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(journalctl: %v: %s)", err, out)
	}
	return string(out)
}

// TestStopContainerSignalAndTimeout: StopContainer sends the container's
// stop signal (SIGTERM unless its config names another), escalates to
// SIGKILL when the timeout runs out, and kills at once for timeout 0; the
// exit code says which ended it.
func TestStopContainerSignalAndTimeout(t *testing.T) {
	pod := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "stop-signals")
	stop := func(id string, timeout int64) (*runtimeapi.ContainerStatus, time.Duration) {
		t.Helper()
		start := time.Now()
		if _, err := pod.client.StopContainer(pod.ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: timeout}); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		st, err := pod.client.ContainerStatus(pod.ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		if st.Status.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			t.Fatalf("after StopContainer: %s", st.Status.State)
		}
		return st.Status, took
	}
	loop := `echo ready; while true; do sleep 0.1; done`
	withSignal := func(sig runtimeapi.Signal) func(*runtimeapi.ContainerConfig) {
		return func(c *runtimeapi.ContainerConfig) { c.StopSignal = sig }
	}

	// Its own stop signal, handled: the container's own exit code.
	id := pod.run("by-sigint", `trap "echo got-int; exit 7" INT; trap "" TERM; `+loop, "ready", withSignal(runtimeapi.Signal_SIGNAL_SIGINT))
	st, _ := stop(id, 10)
	if st.ExitCode != 7 || st.StopSignal != runtimeapi.Signal_SIGNAL_SIGINT {
		t.Errorf("stopped with SIGINT: exit %d, stop signal %s; want 7, SIGNAL_SIGINT", st.ExitCode, st.StopSignal)
	}
	// The default, unhandled: killed by SIGTERM (128+15).
	id = pod.run("by-sigterm", loop, "ready", nil)
	if st, _ := stop(id, 10); st.ExitCode != 143 {
		t.Errorf("stopped with SIGTERM: exit %d, want 143", st.ExitCode)
	}
	// SIGTERM ignored: SIGKILL when the 2 s are up, not before.
	id = pod.run("ignores-sigterm", `trap "" TERM; `+loop, "ready", nil)
	st, took := stop(id, 2)
	if st.ExitCode != 137 || took < 2*time.Second {
		t.Errorf("SIGTERM ignored, timeout 2 s: exit %d after %v; want 137 after at least 2 s", st.ExitCode, took)
	}
	// Timeout 0: SIGKILL at once.
	id = pod.run("timeout-zero", `trap "" TERM; `+loop, "ready", nil)
	if st, _ := stop(id, 0); st.ExitCode != 137 {
		t.Errorf("timeout 0: exit %d, want 137", st.ExitCode)
	}
}

// TestSeccompAndNoNewPrivs: the app runs under exactly the seccomp profile
// asked for (none for Unconfined, the kubelet's default; Docker's default
// whitelist for RuntimeDefault; a Localhost profile translated), and with
// no_new_privs when asked; an exec gets the same filter and no_new_privs.
// What cannot be translated is refused naming the profile.
func TestSeccompAndNoNewPrivs(t *testing.T) {
	pod := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "seccomp")
	dir := t.TempDir()
	profile := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	blockHostname := profile("block-hostname.json", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]}`)
	withArgs := profile("args.json", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}`)
	security := func(sc *runtimeapi.LinuxContainerSecurityContext) func(*runtimeapi.ContainerConfig) {
		return func(c *runtimeapi.ContainerConfig) { c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: sc} }
	}
	showStatus := `grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status | tr -d " \t"; `
	tryHostname := `hostname seccomp-test 2>/dev/null; echo "sethostname=$?"; `
	idle := `echo done; sleep 3600`
	sysAdmin := &runtimeapi.Capability{AddCapabilities: []string{"SYS_ADMIN"}}

	for _, tc := range []struct {
		name string
		sc   *runtimeapi.LinuxContainerSecurityContext
		want []string
	}{
		{"unset", nil, []string{"Seccomp:0", "NoNewPrivs:0"}},
		{"unconfined", &runtimeapi.LinuxContainerSecurityContext{Capabilities: sysAdmin,
			Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}}, []string{"Seccomp:0", "sethostname=0"}},
		{"runtime-default", &runtimeapi.LinuxContainerSecurityContext{
			Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}}, []string{"Seccomp:2"}},
		{"localhost", &runtimeapi.LinuxContainerSecurityContext{Capabilities: sysAdmin,
			Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: blockHostname}}, []string{"Seccomp:2", "sethostname=1"}},
		{"no-new-privs", &runtimeapi.LinuxContainerSecurityContext{NoNewPrivs: true}, []string{"Seccomp:0", "NoNewPrivs:1"}},
	} {
		name := "seccomp-" + tc.name
		id := pod.run(name, showStatus+tryHostname+idle, "done", security(tc.sc))
		log := pod.waitLog(name, "done")
		for _, w := range tc.want {
			if !strings.Contains(log, w) {
				t.Errorf("%s: the app's log lacks %q: %q\nits journal:\n%s", tc.name, w, log, pod.journalOf(id))
			}
		}
		// An exec is filtered as the app is (patch 0011).
		seccompLine := "Seccomp:0"
		for _, w := range tc.want {
			if strings.HasPrefix(w, "Seccomp:") {
				seccompLine = w
			}
		}
		r, err := pod.client.ExecSync(pod.ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", showStatus + tryHostname}, Timeout: 10})
		if err != nil || !strings.Contains(string(r.GetStdout()), seccompLine) {
			t.Errorf("%s: exec sees %q (%v), want %s as the app", tc.name, r.GetStdout(), err, seccompLine)
		}
		for _, w := range tc.want {
			if strings.HasPrefix(w, "sethostname=") && !strings.Contains(string(r.GetStdout()), w) {
				t.Errorf("%s: exec got %q, want %s as the app", tc.name, r.GetStdout(), w)
			}
		}
		if tc.sc.GetNoNewPrivs() {
			r, err := pod.client.ExecSync(pod.ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"grep", "NoNewPrivs", "/proc/self/status"}, Timeout: 10})
			if err != nil || !strings.Contains(string(r.GetStdout()), "1") {
				t.Errorf("exec in a no_new_privs container: %q %v, want NoNewPrivs 1", r.GetStdout(), err)
			}
		}
	}

	for _, tc := range []struct {
		name, ref string
		code      codes.Code
	}{
		{"args", withArgs, codes.InvalidArgument},
		{"missing", filepath.Join(dir, "missing.json"), codes.NotFound},
	} {
		_, err := pod.create("seccomp-refused-"+tc.name, idle, security(&runtimeapi.LinuxContainerSecurityContext{
			Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: tc.ref}}))
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.ref) {
			t.Errorf("profile %s: %v, want %s naming %s", tc.name, err, tc.code, tc.ref)
		}
	}
}

// TestMaskedAndReadonlyPaths: masked paths are inaccessible and read-only
// paths read-only, for the app and for an exec alike (patch 0012); a
// relative path is refused.
func TestMaskedAndReadonlyPaths(t *testing.T) {
	pod := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "paths")
	withPaths := func(c *runtimeapi.ContainerConfig) {
		c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			MaskedPaths: []string{"/bin/ls", "/no/such/path"}, ReadonlyPaths: []string{"/tmp"},
		}}
	}
	probe := `ls / >/dev/null 2>&1; echo "ls=$?"; touch /tmp/x 2>/dev/null; echo "touch-tmp=$?"; touch /etc/x 2>/dev/null; echo "touch-etc=$?"; `
	id := pod.run("paths", probe+`echo done; sleep 3600`, "done", withPaths)
	want := []string{"ls=126", "touch-tmp=1", "touch-etc=0"}
	log := pod.waitLog("paths", "done")
	for _, w := range want {
		if !strings.Contains(log, w) {
			t.Errorf("the app's log lacks %q: %q", w, log)
		}
	}
	r, err := pod.client.ExecSync(pod.ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", probe}, Timeout: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(string(r.Stdout), w) {
			t.Errorf("the exec's output lacks %q: %q", w, r.Stdout)
		}
	}

	_, err = pod.create("paths-relative", "true", func(c *runtimeapi.ContainerConfig) {
		c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{MaskedPaths: []string{"proc/kcore"}}}
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "masked_paths") {
		t.Errorf("relative masked path: %v, want InvalidArgument naming masked_paths", err)
	}
}

// TestUnsupportedIsolationRefused: what rkt cannot give is refused naming
// it, not silently left out: a pod in its own user namespace, an AppArmor
// profile by name.
func TestUnsupportedIsolationRefused(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	client := criClient(t, socket)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := client.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "userns", Namespace: "e2e", Uid: "userns-uid"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}},
		}},
	}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "userns") {
		t.Errorf("pod with its own user namespace: %v, want InvalidArgument naming userns", err)
	}
	pods, err := client.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.GetMetadata().GetUid() == "userns-uid" {
			t.Errorf("the refused pod is listed: %v", p)
		}
	}

	pod := newGRPCPod(t, socket, "apparmor")
	_, err = pod.create("apparmor-localhost", "true", func(c *runtimeapi.ContainerConfig) {
		c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			Apparmor: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "my-profile"},
		}}
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "my-profile") {
		t.Errorf("AppArmor Localhost profile: %v, want InvalidArgument naming the profile", err)
	}
	list, err := pod.client.ListContainers(pod.ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: pod.id}})
	if err != nil || len(list.Containers) != 0 {
		t.Errorf("containers after the refusal: %v %v", list.GetContainers(), err)
	}
}

// TestPodNamespacesNspawnGives checks the reasons test/critest/skip.txt
// gives for the HostPID, HostIpc and ContainerPID specs: a pod sharing the
// host's PID or IPC namespace is refused, naming it, and a container asked
// to have its own PID namespace (the kubelet's default) shares the pod's,
// whose PID 1 is stage1's systemd.
func TestPodNamespacesNspawnGives(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	client := criClient(t, socket)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for field, ns := range map[string]*runtimeapi.NamespaceOption{
		"pid NODE": {Pid: runtimeapi.NamespaceMode_NODE},
		"ipc NODE": {Ipc: runtimeapi.NamespaceMode_NODE},
	} {
		_, err := client.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{
			Metadata: &runtimeapi.PodSandboxMetadata{Name: "host-ns", Namespace: "e2e", Uid: "host-ns-uid"},
			Linux:    &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: ns}},
		}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), field) {
			t.Errorf("pod with %s: %v, want InvalidArgument naming %q", field, err, field)
		}
	}

	pod := newGRPCPod(t, socket, "container-pid")
	id := pod.run("container-pid", "echo ready; exec sleep 3600", "ready", func(c *runtimeapi.ContainerConfig) {
		c.Linux = &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER},
		}}
	})
	r, err := pod.client.ExecSync(pod.ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"cat", "/proc/1/comm"}, Timeout: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(r.GetStdout())); got != "systemd" {
		t.Errorf("PID 1 seen by a container asking for its own PID namespace: %q, want the pod's systemd", got)
	}
}

// TestPlainRktEnter: `rkt enter` run by hand, as an operator would, without
// the settings rktlet passes, still works (stage1's enter and enterexec
// take them only when given).
func TestPlainRktEnter(t *testing.T) {
	pod := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "plain-enter")
	id := pod.run("plain-enter", "echo ready; sleep 3600", "ready", nil)
	st, err := pod.client.ContainerStatus(pod.ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		App     string `json:"app"`
		RktUUID string `json:"rktUUID"`
	}
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(env(t, "RKT_PATH"), "--dir="+env(t, "RKT_DATA_DIR"), "enter", "--app="+info.App, info.RktUUID, "echo", "entered").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "entered") {
		t.Fatalf("rkt enter by hand: %v: %q", err, out)
	}
}

// Commands reach the container word for word: systemd specifiers (%n, %i),
// its $ expansions, quotes and backslashes in the words of a command are
// the command's, not the unit file's.
func TestCommandWordsVerbatim(t *testing.T) {
	p := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "verbatim")
	p.run("printf", `printf '%s|%d|%%n|%%i|$HOME|'"'"'q'"'"'|\\|\n' word 7`, `word|7|%n|%i|$HOME|'q'|\|`, nil)
	p.run("args", `echo "$0" "$1" "$2"`, `%n $$ a\"b`, func(c *runtimeapi.ContainerConfig) {
		c.Command = []string{"sh", "-c", `echo "$0" "$1" "$2"`, "%n", "$$", `a\"b`}
	})
}
