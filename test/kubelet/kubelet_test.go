//go:build e2e

// Package kubelet runs a real kubelet against the test bed's rktlet:
// standalone, with static pods, the systemd cgroup driver and its ports on
// 127.0.0.1 only. hack/test-kubelet.sh builds it and runs it inside the bed.
// Everything the kubelet changes on the host is undone afterwards.
package kubelet

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rktlet/rktlet/test/kubeletnode"
)

func env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run these tests with hack/test-kubelet.sh", name)
	}
	return v
}

// Ports of the kubelet under test, on 127.0.0.1; off the kubelet's defaults
// so that they do not meet a kubelet of the machine's own.
const (
	kubeletPort    = 10350
	kubeletROPort  = 10355
	kubeletHealthz = 10358
	suiteLabel     = "e2e.rktlet.io/suite"
	namespace      = "default"
	kubeletUnit    = "rktlet-e2e-kubelet.service"
)

type pod = kubeletnode.Pod

type kubelet struct {
	*kubeletnode.Kubelet
	mu sync.Mutex
	// deleted are the sandbox and container IDs of the pods whose
	// manifests the tests removed: the kubelet's calls about them while
	// it tears them down may fail, provoked.
	deleted map[string]bool
}

// startKubelet runs the kubelet as a unit of the bed's systemd, and
// registers the undoing of everything it does.
func startKubelet(t *testing.T) *kubelet {
	t.Helper()
	host := kubeletnode.SnapshotHost()
	node, err := kubeletnode.Start(kubeletnode.Options{
		Binary: env(t, "KUBELET_BIN"), Unit: kubeletUnit,
		RuntimeEndpoint: "unix://" + env(t, "RKTLET_SOCKET"), CgroupDriver: "systemd",
		Port: kubeletPort, ReadOnlyPort: kubeletROPort, HealthzPort: kubeletHealthz,
		PodCIDR: "10.88.77.0/24",
	})
	k := &kubelet{Kubelet: node, deleted: map[string]bool{}}
	// Nothing in here may stop early (t.Fatal): each step is undone.
	t.Cleanup(func() {
		if node != nil {
			if t.Failed() {
				t.Logf("kubelet log (last 150 lines):\n%s", node.Log(150))
			}
			k.removeSuitePods(t)
		}
		if err := host.Undo(); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func runErr(name string, args ...string) (string, error) { return kubeletnode.Run(name, args...) }

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func crictl(t testing.TB, args ...string) string {
	t.Helper()
	sock := "unix://" + env(t, "RKTLET_SOCKET")
	return run(t, env(t, "CRICTL"), append([]string{"--runtime-endpoint", sock, "--image-endpoint", sock, "--timeout", "60s"}, args...)...)
}

// removeSuitePods has the kubelet tear down this suite's pods, stops the
// kubelet, then removes what is left of them: with the kubelet stopped
// nothing else removes them meanwhile. It runs in a cleanup: it reports,
// never stops early, so that what comes after it is undone too.
func (k *kubelet) removeSuitePods(t *testing.T) {
	entries, _ := os.ReadDir(k.Manifests)
	for _, e := range entries {
		_ = os.Remove(filepath.Join(k.Manifests, e.Name()))
	}
	crictl := func(args ...string) (string, error) {
		sock := "unix://" + os.Getenv("RKTLET_SOCKET")
		return runErr(os.Getenv("CRICTL"), append([]string{"--runtime-endpoint", sock, "--timeout", "60s"}, args...)...)
	}
	list := func(extra ...string) []string {
		out, err := crictl(append([]string{"pods", "-q", "--label", suiteLabel + "=kubelet"}, extra...)...)
		if err != nil {
			t.Errorf("listing the suite's pods: %v", err)
			return nil
		}
		return strings.Fields(out)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && len(list("--state", "ready")) > 0; {
		time.Sleep(time.Second)
	}
	if err := k.Stop(); err != nil {
		t.Error(err)
	}
	for _, id := range list() {
		if _, err := crictl("stopp", id); err != nil {
			t.Errorf("stopping pod %s: %v", id, err)
		}
		if _, err := crictl("rmp", id); err != nil {
			t.Errorf("removing pod %s: %v", id, err)
		}
	}
}

// apply writes a static pod manifest, labelled as this suite's, and
// removes it when the test ends.
func (k *kubelet) apply(t *testing.T, spec map[string]any) string {
	t.Helper()
	meta := spec["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	labels[suiteLabel] = "kubelet"
	meta["labels"] = labels
	meta["namespace"] = namespace
	name, err := k.Apply(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.deleteManifest(t, name) })
	return name
}

func (k *kubelet) pod(t testing.TB, name string) *pod {
	t.Helper()
	p, err := k.Pod(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (k *kubelet) getJSON(t testing.TB, u string, into any) {
	t.Helper()
	if err := k.GetJSON(u, into); err != nil {
		t.Fatal(err)
	}
}

// deleteManifest removes a pod's manifest, remembering its sandboxes and
// containers first.
func (k *kubelet) deleteManifest(t testing.TB, name string) {
	t.Helper()
	ids := strings.Fields(crictl(t, "pods", "-q", "--name", "^"+regexp.QuoteMeta(k.FullName(name))+"$"))
	for _, sb := range ids {
		ids = append(ids, strings.Fields(crictl(t, "ps", "-a", "-q", "--no-trunc", "--pod", sb))...)
	}
	k.mu.Lock()
	for _, id := range ids {
		k.deleted[id] = true
	}
	k.mu.Unlock()
	if err := os.Remove(k.ManifestPath(name)); err != nil && !os.IsNotExist(err) {
		t.Error(err)
	}
}

// aboutDeleted tells whether a log line names a pod the tests deleted, or
// one of its containers.
func (k *kubelet) aboutDeleted(line string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id := range k.deleted {
		if strings.Contains(line, id) {
			return true
		}
	}
	return false
}

// waitPod polls the kubelet until cond holds for the pod, or fails.
func (k *kubelet) waitPod(t testing.TB, name string, timeout time.Duration, what string, cond func(*pod) bool) *pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *pod
	for {
		if p := k.pod(t, name); p != nil {
			last = p
			if cond(p) {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: not %s within %v; last status: %v", name, what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// containerLogs reads a container's log through the kubelet's API.
func (k *kubelet) containerLogs(t testing.TB, podName, container string, previous bool) string {
	t.Helper()
	u := fmt.Sprintf("https://127.0.0.1:%d/containerLogs/%s/%s/%s", kubeletPort, namespace, k.FullName(podName), container)
	if previous {
		u += "?previous=true"
	}
	resp, err := k.Client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, b)
	}
	return string(b)
}

// run runs a command in a container through the kubelet's /run, which is
// ExecSync; its words are separated by single spaces.
func (k *kubelet) run(t testing.TB, podName, container string, cmd ...string) (string, error) {
	t.Helper()
	u := fmt.Sprintf("https://127.0.0.1:%d/run/%s/%s/%s?cmd=%s", kubeletPort, namespace, k.FullName(podName), container, url.QueryEscape(strings.Join(cmd, " ")))
	resp, err := k.Client.Post(u, "", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("POST %s: %s: %s", u, resp.Status, b)
	}
	return string(b), nil
}

// --- the kubelet's log ---------------------------------------------------------

// logCursor is where the journal is now.
func logCursor(t testing.TB) string {
	t.Helper()
	out := run(t, "journalctl", "-n", "0", "--show-cursor", "--no-pager")
	for _, line := range strings.Split(out, "\n") {
		if c, ok := strings.CutPrefix(line, "-- cursor: "); ok {
			return strings.TrimSpace(c)
		}
	}
	t.Fatalf("no cursor in %q", out)
	return ""
}

var klogError = regexp.MustCompile(`^E[0-9]{4} [0-9:.]+ +[0-9]+ (remote_runtime|remote_image)\.go:`)

// kubeletLog is the kubelet's journal since a cursor.
func kubeletLog(t testing.TB, from string) string {
	t.Helper()
	return run(t, "journalctl", "-u", kubeletUnit, "--no-pager", "-o", "cat", "--after-cursor", from)
}

// runtimeErrors returns the kubelet's error lines about CRI calls since
// a cursor.
func runtimeErrors(t testing.TB, from string) []string {
	t.Helper()
	out := kubeletLog(t, from)
	var errs []string
	for _, line := range strings.Split(out, "\n") {
		if klogError.MatchString(line) {
			errs = append(errs, line)
		}
	}
	return errs
}
