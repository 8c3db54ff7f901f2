//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The races a kubelet runs into on its own: a probe or postStart hook the
// moment StartContainer returns, init containers and sidecars started back
// to back or at once, and retries of a creation still in flight. Each test
// makes the race happen every time rather than hope for it.

// startNow creates a long-running container and starts it; it returns the
// container's ID.
func (p *grpcPod) startNow(name string) string {
	p.t.Helper()
	id, err := p.create(name, "exec sleep 3600", nil)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.client.StartContainer(p.ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		p.t.Fatalf("StartContainer %s: %v", name, err)
	}
	return id
}

// remove stops (at once) and removes a container.
func (p *grpcPod) remove(id string) {
	p.t.Helper()
	if _, err := p.client.StopContainer(p.ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 0}); err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.client.RemoveContainer(p.ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		p.t.Fatal(err)
	}
}

// An ExecSync sent the moment StartContainer returned runs in the app's own
// root, every time.
func TestExecRightAfterStart(t *testing.T) {
	p := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "exec-after-start")
	for i := 0; i < 200; i++ {
		id := p.startNow(fmt.Sprintf("c%d", i))
		r, err := p.client.ExecSync(p.ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"test", "-x", "/bin/sh"}, Timeout: 10})
		if err != nil {
			t.Fatalf("round %d: ExecSync right after StartContainer: %v", i, err)
		}
		if r.GetExitCode() != 0 {
			t.Fatalf("round %d: test -x /bin/sh right after StartContainer exited %d: %s%s", i, r.GetExitCode(), r.GetStdout(), r.GetStderr())
		}
		p.remove(id)
	}
}

// Containers of one pod start at once and back to back without failing,
// and each runs in its own root.
func TestConcurrentAndBackToBackStarts(t *testing.T) {
	p := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "many-starts")
	var ids []string
	for i := 0; i < 10; i++ {
		id, err := p.create(fmt.Sprintf("c%d", i), "exec sleep 3600", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.client.StartContainer(p.ctx, &runtimeapi.StartContainerRequest{ContainerId: ids[i]})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent StartContainer of c%d: %v", i, err)
		}
	}
	for i := 5; i < 10; i++ {
		if _, err := p.client.StartContainer(p.ctx, &runtimeapi.StartContainerRequest{ContainerId: ids[i]}); err != nil {
			t.Fatalf("back-to-back StartContainer of c%d: %v", i, err)
		}
	}
	for i, id := range ids {
		st, err := p.client.ContainerStatus(p.ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetStatus().GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
			t.Fatalf("c%d is %s: %s", i, st.GetStatus().GetState(), st.GetStatus().GetMessage())
		}
		if out, code := p.sh(id, "test -x /bin/sh && echo here"); code != 0 || strings.TrimSpace(out) != "here" {
			t.Fatalf("exec in c%d: %d %q", i, code, out)
		}
	}
}

// A container whose start fails is EXITED with reason StartError and a
// message, never RUNNING; Stop and Remove of it succeed and leave no app.
// The start is made to fail for real: the app's root gets a file where
// stage1's prepare-app must make the /dev directory, so the app unit's
// dependency fails and `rkt app start` with it.
func TestFailedStartIsExited(t *testing.T) {
	p := newGRPCPod(t, env(t, "RKTLET_SOCKET"), "failed-start")
	id, err := p.create("broken", "exec sleep 3600", nil)
	if err != nil {
		t.Fatal(err)
	}
	pod, err := p.client.PodSandboxStatus(p.ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	uuid := podUUID(t, pod)
	app := "ctr-" + id[:20]
	rootfs := filepath.Join(env(t, "RKT_DATA_DIR"), "pods", "run", uuid, "stage1", "rootfs", "opt", "stage2", app, "rootfs")
	if _, err := os.Stat(rootfs); err != nil {
		t.Fatalf("the app's root: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(rootfs, "dev")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "dev"), []byte("not a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.client.StartContainer(p.ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err == nil {
		t.Fatal("StartContainer of a container whose root cannot be prepared succeeded")
	}
	st, err := p.client.ContainerStatus(p.ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatal(err)
	}
	s := st.GetStatus()
	if s.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || s.GetReason() != "StartError" || s.GetMessage() == "" || s.GetFinishedAt() == 0 {
		t.Fatalf("after a failed start: state %s reason %q message %q finished %d", s.GetState(), s.GetReason(), s.GetMessage(), s.GetFinishedAt())
	}
	if _, err := p.client.StopContainer(p.ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 10}); err != nil {
		t.Fatalf("StopContainer after a failed start: %v", err)
	}
	if _, err := p.client.RemoveContainer(p.ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("RemoveContainer after a failed start: %v", err)
	}
	list := exec.Command(env(t, "RKT_PATH"), "--dir="+env(t, "RKT_DATA_DIR"), "app", "list", uuid, "--no-legend")
	list.Env = append(os.Environ(), "RKT_EXPERIMENT_APP=true")
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("rkt app list: %v: %s", err, out)
	}
	if strings.Contains(string(out), app) {
		t.Fatalf("rkt app list still shows the app:\n%s", out)
	}
	// The pod goes on: a good container starts in it.
	good := p.startNow("good")
	if out, code := p.sh(good, "echo ok"); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("exec in a container started after the failed one: %d %q", code, out)
	}
}

// podUUID is the rkt pod UUID from a verbose PodSandboxStatus.
func podUUID(t *testing.T, pod *runtimeapi.PodSandboxStatusResponse) string {
	t.Helper()
	for _, v := range pod.GetInfo() {
		if i := strings.Index(v, `"rktUUID":"`); i >= 0 {
			rest := v[i+len(`"rktUUID":"`):]
			return rest[:strings.IndexByte(rest, '"')]
		}
	}
	t.Fatalf("no rktUUID in the pod's verbose status: %v", pod.GetInfo())
	return ""
}

// Concurrent identical RunPodSandbox calls (a kubelet retrying while the
// first call still starts the pod) give one pod; concurrent identical
// CreateContainer calls give one container, the others AlreadyExists.
func TestConcurrentIdenticalCreates(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	p := newGRPCPod(t, socket, "identical-creates")
	cfg := p.config
	cfg.Metadata = &runtimeapi.PodSandboxMetadata{Name: "twins", Namespace: "e2e", Uid: "twins-" + t.Name(), Attempt: 0}
	var wg sync.WaitGroup
	podIDs := make([]string, 8)
	podErrs := make([]error, 8)
	for i := range podIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := p.client.RunPodSandbox(p.ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
			podIDs[i], podErrs[i] = r.GetPodSandboxId(), err
		}()
	}
	wg.Wait()
	var podID string
	for i, err := range podErrs {
		if err == nil && podID == "" {
			podID = podIDs[i]
		}
	}
	if podID == "" {
		t.Fatalf("no RunPodSandbox succeeded: %v", podErrs)
	}
	t.Cleanup(func() {
		p.client.StopPodSandbox(p.ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
		p.client.RemovePodSandbox(p.ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
	})
	for i, err := range podErrs {
		if err == nil && podIDs[i] != podID {
			t.Fatalf("two pods for one name: %s and %s", podID, podIDs[i])
		}
		if err != nil && status.Code(err) != codes.AlreadyExists {
			t.Fatalf("RunPodSandbox %d: %v", i, err)
		}
	}
	pods, err := p.client.ListPodSandbox(p.ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sb := range pods.GetItems() {
		if sb.GetMetadata().GetUid() == cfg.Metadata.Uid {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d pods listed for one name", n)
	}

	ctrCfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "twin"},
		Image:    &runtimeapi.ImageSpec{Image: busybox},
		Command:  []string{"sleep", "3600"},
	}
	ctrIDs := make([]string, 8)
	ctrErrs := make([]error, 8)
	for i := range ctrIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := p.client.CreateContainer(p.ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, SandboxConfig: cfg, Config: ctrCfg})
			ctrIDs[i], ctrErrs[i] = r.GetContainerId(), err
		}()
	}
	wg.Wait()
	made := 0
	for i, err := range ctrErrs {
		switch {
		case err == nil:
			made++
		case status.Code(err) != codes.AlreadyExists:
			t.Fatalf("CreateContainer %d: %v", i, err)
		}
	}
	ctrs, err := p.client.ListContainers(p.ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID}})
	if err != nil {
		t.Fatal(err)
	}
	if made != 1 || len(ctrs.GetContainers()) != 1 {
		t.Fatalf("%d CreateContainer calls succeeded and %d containers are listed, want 1 and 1", made, len(ctrs.GetContainers()))
	}
}
