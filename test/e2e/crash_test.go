//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCrashLoop runs a kubelet-like workload (pods, containers writing
// numbered log lines, execs, pod removals) against a rktlet that is killed
// with SIGKILL at random moments and started again, CRASH_ROUNDS times (3
// unless set; `make crash` sets 50). The workload retries as the kubelet
// does: a call rktlet could not answer is sent again, a pod or container
// whose creation was undone is created again. At the end every pod it kept
// must be READY with its container RUNNING and each log line in the file
// exactly once, and once it removed everything no unit, netns, IP
// allocation, mount, cgroup or log follower of its may be left.
func TestCrashLoop(t *testing.T) {
	rounds := 3
	if v := os.Getenv("CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("CRASH_ROUNDS=%q", v)
		}
		rounds = n
	}
	dir, err := os.MkdirTemp("", "rktlet-e2e-crash-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeDataDir(dir) })
	logDir := filepath.Join(dir, "logs")
	mirror := "--registry-mirror=registry.k8s.io=http://" + env(t, "TESTBED_REGISTRY")
	unitsBefore := podUnits(t)
	netnsBefore := netnsCount(t)
	ipsBefore := ipAllocations(t)

	w := &crashWorkload{logDir: logDir, stop: make(chan struct{})}
	w.swap(t, startInstanceIn(t, dir, mirror))
	if _, err := crictl(t, w.inst().socket, "pull", busybox); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.run() }()

	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; i < rounds; i++ {
		select {
		case err := <-done:
			t.Fatalf("the workload stopped after %d kills: %v", i, err)
		case <-time.After(time.Duration(500+rnd.Intn(5500)) * time.Millisecond):
		}
		inst := w.inst()
		_ = inst.cmd.Process.Kill()
		<-inst.exited
		inst.exited <- nil
		w.swap(t, startInstanceIn(t, dir, mirror))
	}
	close(w.stop)
	if err := <-done; err != nil {
		t.Fatalf("the workload: %v", err)
	}
	t.Logf("%d kills; the workload made %d pods and removed %d, %d container attempts", rounds, len(w.pods), w.removed, w.attempts)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rt := w.client()
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]*runtimeapi.PodSandbox{}
	for _, p := range list.GetItems() {
		listed[p.GetId()] = p
	}
	for _, p := range w.pods {
		got, ok := listed[p.id]
		switch {
		case p.removed && ok:
			t.Errorf("pod %s (%s) was removed and is listed", p.id, p.name)
		case p.removed:
		case !ok:
			t.Errorf("pod %s (%s) is not listed", p.id, p.name)
		case got.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY:
			t.Errorf("pod %s (%s) is %s", p.id, p.name, got.GetState())
		default:
			w.checkContainer(t, ctx, p)
		}
		delete(listed, p.id)
	}
	for id, p := range listed {
		t.Errorf("pod %s (%s) is listed and the workload does not know it", id, p.GetMetadata().GetName())
	}

	for _, p := range w.pods {
		if !p.removed {
			if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id}); err != nil {
				t.Fatal(err)
			}
			if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if after := podUnits(t); after != unitsBefore {
		t.Errorf("pod units before the test:\n%s\nafter it:\n%s", unitsBefore, after)
	}
	if n := netnsCount(t); n != netnsBefore {
		t.Errorf("%d network namespaces before the test, %d after", netnsBefore, n)
	}
	if n := ipAllocations(t); n != ipsBefore {
		t.Errorf("%d IP allocations before the test, %d after", ipsBefore, n)
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), dir+"/") {
		t.Errorf("mounts under %s left behind", dir)
	}
	for _, p := range w.pods {
		for _, c := range p.containers {
			if leftover := v1CgroupsNamed(t, "ctr-"+c[:20]); leftover != "" {
				t.Errorf("cgroup %s of container %s left behind", leftover, c)
			}
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "state", "logs")); len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("log followers' state left behind: %v", names)
	}
}

// crashPod is what the workload made of one pod.
type crashPod struct {
	name, id   string
	container  string   // the last attempt, expected RUNNING
	logPath    string   // its log file, relative to the pod's log directory
	containers []string // every container ID it made, for the cgroup check
	removed    bool
}

const crashLines = 50

type crashWorkload struct {
	logDir string
	stop   chan struct{}

	mu       sync.Mutex
	current  *instance
	rt       runtimeapi.RuntimeServiceClient
	pods     []*crashPod
	removed  int
	attempts int
}

func (w *crashWorkload) swap(t *testing.T, inst *instance) {
	conn := criConn(t, inst.socket)
	w.mu.Lock()
	w.current, w.rt = inst, runtimeapi.NewRuntimeServiceClient(conn)
	w.mu.Unlock()
}

func (w *crashWorkload) inst() *instance {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

func (w *crashWorkload) client() runtimeapi.RuntimeServiceClient {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rt
}

// retryable tells whether rktlet was down or recovering: the call is sent
// again, as the kubelet does on its next sync.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return true
	}
	return false
}

// call sends f until it gets an answer from a running rktlet.
func (w *crashWorkload) call(f func(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error) error {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := f(ctx, w.client())
		cancel()
		if err == nil || !retryable(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer for 3 minutes: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *crashWorkload) run() error {
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return nil
		default:
		}
		p := &crashPod{name: fmt.Sprintf("crash-%d", i)}
		w.mu.Lock()
		w.pods = append(w.pods, p)
		w.mu.Unlock()
		if err := w.runPod(p); err != nil {
			return fmt.Errorf("pod %s: %w", p.name, err)
		}
		if i%3 == 2 {
			if err := w.removePod(p); err != nil {
				return fmt.Errorf("removing pod %s: %w", p.name, err)
			}
		}
	}
}

func (w *crashWorkload) podConfig(p *crashPod, attempt uint32) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: p.name, Namespace: "crash", Uid: p.name + "-uid", Attempt: attempt},
		LogDirectory: filepath.Join(w.logDir, p.name),
	}
}

// runPod makes the pod and its container running, as a kubelet's pod
// workers would: what a killed rktlet undid is made again.
func (w *crashWorkload) runPod(p *crashPod) error {
	for attempt := uint32(0); attempt < 10; attempt++ {
		cfg := w.podConfig(p, attempt)
		var id string
		err := w.call(func(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
			r, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
			id = r.GetPodSandboxId()
			return err
		})
		if status.Code(err) == codes.AlreadyExists {
			continue // a NOTREADY one of that attempt: the kubelet makes the next
		}
		if err != nil {
			return err
		}
		p.id = id
		for ctrAttempt := uint32(0); ctrAttempt < 10; ctrAttempt++ {
			ok, err := w.runContainer(p, cfg, ctrAttempt)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
		}
		return errors.New("no container attempt ran")
	}
	return errors.New("no pod attempt ran")
}

// runContainer creates and starts one attempt of the pod's container; false
// when that attempt ended up not running (its start was cut short) and the
// next should be made.
func (w *crashWorkload) runContainer(p *crashPod, sbCfg *runtimeapi.PodSandboxConfig, attempt uint32) (bool, error) {
	logPath := fmt.Sprintf("c-%d.log", attempt)
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "c", Attempt: attempt},
		Image:    &runtimeapi.ImageSpec{Image: busybox},
		Command:  []string{"sh", "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "%s line $i"; i=$((i+1)); sleep 0.02; done; exec sleep 3600`, crashLines, p.name)},
		LogPath:  logPath,
	}
	var id string
	err := w.call(func(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
		r, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: p.id, SandboxConfig: sbCfg, Config: cfg})
		if status.Code(err) == codes.AlreadyExists {
			// The first try made it and the answer was lost in the kill.
			list, lerr := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: p.id}})
			if lerr != nil {
				return lerr
			}
			for _, c := range list.GetContainers() {
				if c.GetMetadata().GetName() == "c" && c.GetMetadata().GetAttempt() == attempt {
					id = c.GetId()
					return nil
				}
			}
		}
		id = r.GetContainerId()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("creating attempt %d: %w", attempt, err)
	}
	w.mu.Lock()
	p.containers = append(p.containers, id)
	w.attempts++
	w.mu.Unlock()
	err = w.call(func(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
		_, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
		if status.Code(err) == codes.FailedPrecondition {
			return nil // started already by a try whose answer was lost; the status says
		}
		return err
	})
	// A start that failed is judged by the container's status, as the
	// kubelet does.
	_ = err
	var st *runtimeapi.ContainerStatus
	if err := w.call(func(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
		r, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
		st = r.GetStatus()
		return err
	}); err != nil {
		return false, err
	}
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		// A start cut short: the kubelet removes it and makes the next.
		if err := w.call(func(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
			_, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
			return err
		}); err != nil {
			return false, err
		}
		return false, nil
	}
	p.container, p.logPath = id, logPath
	return true, w.call(func(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
		r, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"echo", "ok"}, Timeout: 20})
		if err == nil && (r.GetExitCode() != 0 || strings.TrimSpace(string(r.GetStdout())) != "ok") {
			return fmt.Errorf("exec: exit %d, %q %q", r.GetExitCode(), r.GetStdout(), r.GetStderr())
		}
		return err
	})
}

func (w *crashWorkload) removePod(p *crashPod) error {
	if err := w.call(func(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
		_, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.id})
		return err
	}); err != nil {
		return err
	}
	if err := w.call(func(ctx context.Context, rt runtimeapi.RuntimeServiceClient) error {
		_, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.id})
		return err
	}); err != nil {
		return err
	}
	w.mu.Lock()
	p.removed = true
	w.removed++
	w.mu.Unlock()
	return nil
}

// checkContainer: the pod's container runs, and its log file holds each of
// its lines exactly once.
func (w *crashWorkload) checkContainer(t *testing.T, ctx context.Context, p *crashPod) {
	t.Helper()
	r, err := w.client().ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: p.container})
	if err != nil {
		t.Errorf("pod %s: container %s: %v", p.name, p.container, err)
		return
	}
	if r.GetStatus().GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("pod %s: container %s is %s (%s)", p.name, p.container, r.GetStatus().GetState(), r.GetStatus().GetMessage())
		return
	}
	path := filepath.Join(w.logDir, p.name, p.logPath)
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		counts := map[string]int{}
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.Index(line, p.name+" line "); i >= 0 {
				counts[line[i:]]++
			}
		}
		var wrong []string
		for k := 0; k < crashLines; k++ {
			want := fmt.Sprintf("%s line %d", p.name, k)
			if counts[want] != 1 {
				wrong = append(wrong, fmt.Sprintf("%q ×%d", want, counts[want]))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("pod %s: log %s: %s", p.name, path, strings.Join(wrong, ", "))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// podUnits lists the bed's pod units, sorted.
func podUnits(t *testing.T) string {
	return sh(t, "systemctl", "list-units", "--all", "--no-legend", "--plain", "rktlet-pod-*")
}

func netnsCount(t *testing.T) int {
	entries, _ := os.ReadDir("/run/netns")
	return len(entries)
}

// v1CgroupsNamed finds a directory of that name in the bed's cgroup v1
// hierarchies (where rktlet makes containers' limit directories).
func v1CgroupsNamed(t *testing.T, name string) string {
	found := ""
	_ = filepath.WalkDir("/run/cgroup-v1", func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == name {
			found = path
			return filepath.SkipAll
		}
		return nil
	})
	return found
}
