//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

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
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.GetPodSandboxId()})
		rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.GetPodSandboxId()})
	})
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
		resp, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.GetPodSandboxId(), Config: cfg, SandboxConfig: podCfg})
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
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.GetPodSandboxId()})
		rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.GetPodSandboxId()})
	})
	good := func(name string) *runtimeapi.ContainerConfig {
		return &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: busybox}, Command: []string{"sleep", "60"}}
	}
	if _, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.GetPodSandboxId(), Config: good("taken"), SandboxConfig: podCfg}); err != nil {
		t.Fatal(err)
	}
	missingImage := good("no-image")
	missingImage.Image.Image = "registry.k8s.io/never/pulled:1"
	relContainerPath := good("rel-ctr")
	relContainerPath.Mounts = []*runtimeapi.Mount{{ContainerPath: "data", HostPath: "/tmp"}}
	relHostPath := good("rel-host")
	relHostPath.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: "tmp"}}
	for _, c := range []struct {
		what  string
		pod   string
		cfg   *runtimeapi.ContainerConfig
		code  string
		names string
	}{
		{"unknown sandbox", "0123456789abcdef", good("x"), "NotFound", "0123456789abcdef"},
		{"image not pulled", pod.GetPodSandboxId(), missingImage, "NotFound", "registry.k8s.io/never/pulled:1"},
		{"duplicate name", pod.GetPodSandboxId(), good("taken"), "AlreadyExists", "taken"},
		{"relative container path", pod.GetPodSandboxId(), relContainerPath, "InvalidArgument", "container_path"},
		{"relative host path", pod.GetPodSandboxId(), relHostPath, "InvalidArgument", "host_path"},
	} {
		_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: c.pod, Config: c.cfg, SandboxConfig: podCfg})
		if err == nil || !strings.Contains(err.Error(), "code = "+c.code) || !strings.Contains(err.Error(), c.names) {
			t.Errorf("%s: %v, want %s naming %q", c.what, err, c.code, c.names)
		}
	}
	list, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: pod.GetPodSandboxId()}})
	if err != nil || len(list.GetContainers()) != 1 {
		t.Fatalf("containers in the pod: %v %v, want only the good one", list.GetContainers(), err)
	}
	// rkt agrees: one app in the pod.
	st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pod.GetPodSandboxId(), Verbose: true})
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

// TestStopContainerSignalAndTimeout: StopContainer sends the container's
// stop signal (SIGTERM unless its config names another), escalates to
// SIGKILL when the timeout runs out, and kills at once for timeout 0; the
// exit code says which ended it.
func TestStopContainerSignalAndTimeout(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	podID, podCfgPath, logDir := logPod(t, socket, "stop-signals")
	raw, err := os.ReadFile(podCfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var podCfg runtimeapi.PodSandboxConfig
	if err := protojson.Unmarshal(raw, &podCfg); err != nil {
		t.Fatal(err)
	}
	client := criClient(t, socket)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(name, script string, sig runtimeapi.Signal) string {
		t.Helper()
		r, err := client.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, SandboxConfig: &podCfg, Config: &runtimeapi.ContainerConfig{
			Metadata:   &runtimeapi.ContainerMetadata{Name: name},
			Image:      &runtimeapi.ImageSpec{Image: busybox},
			Command:    []string{"sh", "-c", script},
			LogPath:    name + ".log",
			StopSignal: sig,
		}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: r.ContainerId}); err != nil {
			t.Fatal(err)
		}
		// Stop only once the traps are set.
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, _ := os.ReadFile(filepath.Join(logDir, name+".log"))
			if strings.Contains(string(b), "ready") {
				return r.ContainerId
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never said ready: %q", name, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	stop := func(id string, timeout int64) (*runtimeapi.ContainerStatus, time.Duration) {
		t.Helper()
		start := time.Now()
		if _, err := client.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: timeout}); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		st, err := client.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		if st.Status.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			t.Fatalf("after StopContainer: %s", st.Status.State)
		}
		return st.Status, took
	}
	loop := `echo ready; while true; do sleep 0.1; done`

	// Its own stop signal, handled: the container's own exit code.
	id := run("by-sigint", `trap "echo got-int; exit 7" INT; trap "" TERM; `+loop, runtimeapi.Signal_SIGNAL_SIGINT)
	st, _ := stop(id, 10)
	if st.ExitCode != 7 || st.StopSignal != runtimeapi.Signal_SIGNAL_SIGINT {
		t.Errorf("stopped with SIGINT: exit %d, stop signal %s; want 7, SIGNAL_SIGINT", st.ExitCode, st.StopSignal)
	}
	// The default, unhandled: killed by SIGTERM (128+15).
	id = run("by-sigterm", loop, runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT)
	if st, _ := stop(id, 10); st.ExitCode != 143 {
		t.Errorf("stopped with SIGTERM: exit %d, want 143", st.ExitCode)
	}
	// SIGTERM ignored: SIGKILL when the 2 s are up, not before.
	id = run("ignores-sigterm", `trap "" TERM; `+loop, runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT)
	st, took := stop(id, 2)
	if st.ExitCode != 137 || took < 2*time.Second {
		t.Errorf("SIGTERM ignored, timeout 2 s: exit %d after %v; want 137 after at least 2 s", st.ExitCode, took)
	}
	// Timeout 0: SIGKILL at once.
	id = run("timeout-zero", `trap "" TERM; `+loop, runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT)
	if st, _ := stop(id, 0); st.ExitCode != 137 {
		t.Errorf("timeout 0: exit %d, want 137", st.ExitCode)
	}
}
