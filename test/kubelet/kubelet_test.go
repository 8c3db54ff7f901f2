//go:build e2e

// Package kubelet runs a real kubelet against the test bed's rktlet:
// standalone, with static pods, the systemd cgroup driver and its ports on
// 127.0.0.1 only. hack/test-kubelet.sh builds it and runs it inside the bed.
// Everything the kubelet changes on the host is undone afterwards.
package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// sysctls the kubelet sets at start (protectKernelDefaults off): restored
// afterwards, since they are the host's.
var kubeletSysctls = []string{
	"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
}

type kubelet struct {
	mu sync.Mutex
	// deleted are the sandbox and container IDs of the pods whose
	// manifests the tests removed: the kubelet's calls about them while
	// it tears them down may fail, provoked.
	deleted map[string]bool

	dir       string
	manifests string
	podLogs   string
	node      string
	client    *http.Client
}

func sysctlPath(name string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
}

// startKubelet runs the kubelet as a unit of the bed's systemd, and
// registers the undoing of everything it does.
func startKubelet(t *testing.T) *kubelet {
	t.Helper()
	dir, err := os.MkdirTemp("", "rktlet-kubelet-")
	if err != nil {
		t.Fatal(err)
	}
	k := &kubelet{
		deleted:   map[string]bool{},
		dir:       dir,
		manifests: filepath.Join(dir, "manifests"),
		podLogs:   filepath.Join(dir, "pod-logs"),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			// The kubelet's own self-signed certificate, on loopback.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		}},
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	k.node = strings.ToLower(host)
	for _, d := range []string{k.manifests, k.podLogs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	saved := map[string]string{}
	for _, s := range kubeletSysctls {
		if b, err := os.ReadFile(sysctlPath(s)); err == nil {
			saved[s] = strings.TrimSpace(string(b))
		}
	}
	const devicePlugins = "/var/lib/kubelet"
	_, statErr := os.Stat(devicePlugins)
	hadKubeletDir := statErr == nil
	chainsBefore := iptablesChains()

	// Nothing in here may stop early (t.Fatal): each step is undone.
	t.Cleanup(func() {
		k.removeSuitePods(t)
		if _, err := runErr("systemctl", "stop", kubeletUnit); err != nil {
			t.Error(err)
		}
		_, _ = runErr("systemctl", "reset-failed", kubeletUnit)
		if t.Failed() {
			out, _ := runErr("journalctl", "-u", kubeletUnit, "--no-pager", "-n", "150", "-o", "cat")
			t.Logf("kubelet log (last 150 lines):\n%s", out)
		}
		for s, v := range saved {
			if err := os.WriteFile(sysctlPath(s), []byte(v), 0); err != nil {
				t.Errorf("restoring sysctl %s=%s: %v", s, v, err)
			}
		}
		if !hadKubeletDir {
			_ = os.RemoveAll(devicePlugins)
		}
		for _, c := range iptablesChains() {
			if !contains(chainsBefore, c) {
				table, chain, _ := strings.Cut(c, " ")
				_, _ = runErr("iptables", "-t", table, "-F", chain)
				_, _ = runErr("iptables", "-t", table, "-X", chain)
				t.Logf("removed iptables chain %s that the kubelet created", c)
			}
		}
		removeTree(dir)
	})

	cfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: %[1]s
fileCheckFrequency: 5s
syncFrequency: 10s
address: 127.0.0.1
port: %[2]d
readOnlyPort: %[3]d
healthzBindAddress: 127.0.0.1
healthzPort: %[4]d
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://%[5]s
imageServiceEndpoint: unix://%[5]s
runtimeRequestTimeout: 2m
cgroupDriver: systemd
# The bed's /sys/fs/cgroup is cgroup2 without controllers (they are on v1):
# no QoS cgroups of the kubelet's own there.
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
failCgroupV1: false
makeIPTablesUtilChains: false
oomScoreAdj: 0
podLogsDir: %[6]s
volumePluginDir: %[7]s
podCIDR: 10.88.77.0/24
# A shared CI machine's disk and memory are not this suite's to judge.
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
containerLogMaxSize: 1Mi
containerLogMaxFiles: 3
`, k.manifests, kubeletPort, kubeletROPort, kubeletHealthz, env(t, "RKTLET_SOCKET"), k.podLogs, filepath.Join(dir, "volume-plugins"))
	cfgPath := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// A kubelet left by a run that was itself killed goes first; its unit
	// is unloaded shortly after it stopped.
	_, _ = runErr("systemctl", "stop", kubeletUnit)
	_, _ = runErr("systemctl", "reset-failed", kubeletUnit)
	args := []string{"--unit=" + kubeletUnit, "--collect", "--quiet", "-p", "Type=exec",
		"--setenv=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		env(t, "KUBELET_BIN"), "--config=" + cfgPath, "--root-dir=" + filepath.Join(dir, "root"),
		"--cert-dir=" + filepath.Join(dir, "pki"), "--v=2"}
	for i := 0; ; i++ {
		_, err := runErr("systemd-run", args...)
		if err == nil {
			break
		}
		if i == 50 || !strings.Contains(err.Error(), "already loaded") {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := k.client.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", kubeletHealthz))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if out, _ := runErr("systemctl", "is-active", kubeletUnit); strings.TrimSpace(out) == "failed" || time.Now().After(deadline) {
			log, _ := runErr("journalctl", "-u", kubeletUnit, "--no-pager", "-n", "80", "-o", "cat")
			t.Fatalf("the kubelet did not become healthy (%v):\n%s", err, log)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return k
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// iptablesChains lists "table chain" of every chain whose name starts KUBE-.
func iptablesChains() []string {
	var out []string
	for _, table := range []string{"filter", "nat", "mangle"} {
		s, err := runErr("iptables", "-t", table, "-S")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(s, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "-N" && strings.HasPrefix(f[1], "KUBE-") {
				out = append(out, table+" "+f[1])
			}
		}
	}
	return out
}

// removeTree removes dir after unmounting anything mounted below it.
func removeTree(dir string) {
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		var mounts []string
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
				mounts = append(mounts, f[4])
			}
		}
		for i := len(mounts) - 1; i >= 0; i-- {
			_ = syscall.Unmount(mounts[i], syscall.MNT_DETACH)
		}
	}
	_ = os.RemoveAll(dir)
}

func runErr(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

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

// removeSuitePods stops and removes what is left of this suite's pods once
// the kubelet has let go of them. It runs in a cleanup: it reports, never
// stops early, so that what comes after it is undone too.
func (k *kubelet) removeSuitePods(t *testing.T) {
	entries, _ := os.ReadDir(k.manifests)
	for _, e := range entries {
		_ = os.Remove(filepath.Join(k.manifests, e.Name()))
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
	for _, id := range list() {
		if _, err := crictl("stopp", id); err != nil {
			t.Errorf("stopping pod %s: %v", id, err)
		}
		if _, err := crictl("rmp", "-f", id); err != nil {
			t.Errorf("removing pod %s: %v", id, err)
		}
	}
}

// --- pods through the kubelet's API -----------------------------------------

type containerState struct {
	Waiting *struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"waiting"`
	Running *struct {
		StartedAt time.Time `json:"startedAt"`
	} `json:"running"`
	Terminated *struct {
		ExitCode   int       `json:"exitCode"`
		Reason     string    `json:"reason"`
		StartedAt  time.Time `json:"startedAt"`
		FinishedAt time.Time `json:"finishedAt"`
	} `json:"terminated"`
}

type containerStatus struct {
	Name         string         `json:"name"`
	ContainerID  string         `json:"containerID"`
	Ready        bool           `json:"ready"`
	RestartCount int            `json:"restartCount"`
	State        containerState `json:"state"`
	LastState    containerState `json:"lastState"`
}

type pod struct {
	Metadata struct {
		Name string `json:"name"`
		UID  string `json:"uid"`
	} `json:"metadata"`
	Status struct {
		Phase      string `json:"phase"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
		PodIPs []struct {
			IP string `json:"ip"`
		} `json:"podIPs"`
		InitContainerStatuses []containerStatus `json:"initContainerStatuses"`
		ContainerStatuses     []containerStatus `json:"containerStatuses"`
	} `json:"status"`
}

func (p *pod) ready() bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

func (p *pod) container(name string) *containerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func (p *pod) String() string {
	b, _ := json.Marshal(p.Status)
	return string(b)
}

// fullName is the name the kubelet gives a static pod: its own with the
// node's appended.
func (k *kubelet) fullName(name string) string { return name + "-" + k.node }

// apply writes a static pod manifest (JSON is YAML), labelled as this
// suite's, and removes it when the test ends.
func (k *kubelet) apply(t *testing.T, spec map[string]any) string {
	t.Helper()
	meta := spec["metadata"].(map[string]any)
	name := meta["name"].(string)
	labels, _ := meta["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	labels[suiteLabel] = "kubelet"
	meta["labels"] = labels
	meta["namespace"] = namespace
	spec["apiVersion"], spec["kind"] = "v1", "Pod"
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	// Dot files are ignored: the kubelet sees the manifest whole or not at all.
	tmp := filepath.Join(k.manifests, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, k.manifestPath(name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.deleteManifest(t, name) })
	return name
}

// deleteManifest removes a pod's manifest, remembering its sandboxes and
// containers first.
func (k *kubelet) deleteManifest(t testing.TB, name string) {
	t.Helper()
	ids := strings.Fields(crictl(t, "pods", "-q", "--name", "^"+regexp.QuoteMeta(k.fullName(name))+"$"))
	for _, sb := range ids {
		ids = append(ids, strings.Fields(crictl(t, "ps", "-a", "-q", "--no-trunc", "--pod", sb))...)
	}
	k.mu.Lock()
	for _, id := range ids {
		k.deleted[id] = true
	}
	k.mu.Unlock()
	if err := os.Remove(k.manifestPath(name)); err != nil && !os.IsNotExist(err) {
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

func (k *kubelet) manifestPath(name string) string {
	return filepath.Join(k.manifests, name+".yaml")
}

func (k *kubelet) pods(t testing.TB) []pod {
	t.Helper()
	var list struct {
		Items []pod `json:"items"`
	}
	k.getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/pods", kubeletROPort), &list)
	return list.Items
}

func (k *kubelet) pod(t testing.TB, name string) *pod {
	t.Helper()
	for _, p := range k.pods(t) {
		if p.Metadata.Name == k.fullName(name) {
			return &p
		}
	}
	return nil
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

func (k *kubelet) getJSON(t testing.TB, u string, into any) {
	t.Helper()
	resp, err := k.client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, b)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, b)
	}
}

// containerLogs reads a container's log through the kubelet's API.
func (k *kubelet) containerLogs(t testing.TB, podName, container string, previous bool) string {
	t.Helper()
	u := fmt.Sprintf("https://127.0.0.1:%d/containerLogs/%s/%s/%s", kubeletPort, namespace, k.fullName(podName), container)
	if previous {
		u += "?previous=true"
	}
	resp, err := k.client.Get(u)
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
	u := fmt.Sprintf("https://127.0.0.1:%d/run/%s/%s/%s?cmd=%s", kubeletPort, namespace, k.fullName(podName), container, url.QueryEscape(strings.Join(cmd, " ")))
	resp, err := k.client.Post(u, "", nil)
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

// runtimeErrors returns the kubelet's error lines about CRI calls since
// a cursor.
func runtimeErrors(t testing.TB, from string) []string {
	t.Helper()
	out := run(t, "journalctl", "-u", kubeletUnit, "--no-pager", "-o", "cat", "--after-cursor", from)
	var errs []string
	for _, line := range strings.Split(out, "\n") {
		if klogError.MatchString(line) {
			errs = append(errs, line)
		}
	}
	return errs
}
