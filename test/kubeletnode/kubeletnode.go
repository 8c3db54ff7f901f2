// Package kubeletnode runs a standalone kubelet (static pods, no API server)
// as a unit of the test bed's systemd, against a CRI runtime, and reads its
// pods through its API on 127.0.0.1: the kubelet suite and the kubelet
// benchmark share it.
package kubeletnode

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Options say which kubelet to run, against which runtime.
type Options struct {
	Binary string
	// Unit is the systemd unit the kubelet runs as; "" runs it as a child
	// process instead, where there is no systemd (a reference runtime on
	// the host itself).
	Unit string
	// RuntimeEndpoint is the CRI socket, unix:///...
	RuntimeEndpoint string
	// CgroupDriver is "systemd" (rktlet) or "cgroupfs".
	CgroupDriver string
	// Port, ReadOnlyPort and HealthzPort are the kubelet's ports on 127.0.0.1.
	Port, ReadOnlyPort, HealthzPort int
	PodCIDR                         string
	// CgroupsPerQOS lets the kubelet make its QoS and pod cgroups, which
	// needs controllers on cgroup2 (a pure cgroup v2 host; the bed's
	// cgroup2 has none).
	CgroupsPerQOS bool
	// RuntimeRequestTimeout bounds each CRI call ("2m" if empty); a VM
	// under emulation starts a pod in a minute or more.
	RuntimeRequestTimeout string
}

// Kubelet is a running kubelet and the directory it works in.
type Kubelet struct {
	opts Options
	// child is the kubelet's process when it is not a unit; its output
	// goes to logPath.
	child     *exec.Cmd
	exited    chan struct{}
	logPath   string
	Dir       string
	Manifests string
	PodLogs   string
	// Node is the node's name, which static pods' names end with.
	Node   string
	Client *http.Client
}

// Start writes the kubelet's configuration into a new directory and starts
// it, returning once its /healthz answers.
func Start(opts Options) (*Kubelet, error) {
	dir, err := os.MkdirTemp("", "rktlet-kubelet-")
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	k := &Kubelet{
		opts: opts, Dir: dir, Node: strings.ToLower(host),
		Manifests: filepath.Join(dir, "manifests"), PodLogs: filepath.Join(dir, "pod-logs"),
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			// The kubelet's own self-signed certificate, on loopback.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		}},
	}
	for _, d := range []string{k.Manifests, k.PodLogs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return k, err
		}
	}
	cfgPath := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(cfgPath, []byte(k.config()), 0o644); err != nil {
		return k, err
	}
	args := []string{"--config=" + cfgPath, "--root-dir=" + filepath.Join(dir, "root"),
		"--cert-dir=" + filepath.Join(dir, "pki"), "--v=2"}
	if err := k.start(args); err != nil {
		return k, err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := k.Client.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", opts.HealthzPort))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return k, nil
			}
		}
		if !k.alive() || time.Now().After(deadline) {
			return k, fmt.Errorf("the kubelet did not become healthy (%v):\n%s", err, k.Log(80))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (k *Kubelet) start(args []string) error {
	if k.opts.Unit == "" {
		k.logPath = filepath.Join(k.Dir, "kubelet.log")
		logFile, err := os.Create(k.logPath)
		if err != nil {
			return err
		}
		defer logFile.Close()
		k.child = exec.Command(k.opts.Binary, args...)
		k.child.Stdout, k.child.Stderr = logFile, logFile
		if err := k.child.Start(); err != nil {
			return err
		}
		k.exited = make(chan struct{})
		go func() { _ = k.child.Wait(); close(k.exited) }()
		return nil
	}
	// A kubelet left by a run that was itself killed goes first; its unit
	// is unloaded shortly after it stopped.
	_, _ = Run("systemctl", "stop", k.opts.Unit)
	_, _ = Run("systemctl", "reset-failed", k.opts.Unit)
	unitArgs := append([]string{"--unit=" + k.opts.Unit, "--collect", "--quiet", "-p", "Type=exec",
		"--setenv=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", k.opts.Binary}, args...)
	for i := 0; ; i++ {
		_, err := Run("systemd-run", unitArgs...)
		if err == nil || i == 50 || !strings.Contains(err.Error(), "already loaded") {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (k *Kubelet) alive() bool {
	if k.child != nil {
		select {
		case <-k.exited:
			return false
		default:
			return true
		}
	}
	out, _ := Run("systemctl", "is-active", k.opts.Unit)
	return strings.TrimSpace(out) != "failed"
}

func (k *Kubelet) config() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
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
containerRuntimeEndpoint: %[5]s
imageServiceEndpoint: %[5]s
runtimeRequestTimeout: %[11]s
cgroupDriver: %[6]s
# The bed's /sys/fs/cgroup is cgroup2 without controllers (they are on v1):
# no QoS cgroups of the kubelet's own there.
cgroupsPerQOS: %[10]t
enforceNodeAllocatable: []
failSwapOn: false
failCgroupV1: false
makeIPTablesUtilChains: false
oomScoreAdj: 0
podLogsDir: %[7]s
volumePluginDir: %[8]s
podCIDR: %[9]s
# A shared CI machine's disk and memory are not the kubelet's to judge here.
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
containerLogMaxSize: 1Mi
containerLogMaxFiles: 3
`, k.Manifests, k.opts.Port, k.opts.ReadOnlyPort, k.opts.HealthzPort, k.opts.RuntimeEndpoint,
		k.opts.CgroupDriver, k.PodLogs, filepath.Join(k.Dir, "volume-plugins"), k.opts.PodCIDR, k.opts.CgroupsPerQOS, k.requestTimeout())
}

func (k *Kubelet) requestTimeout() string {
	if k.opts.RuntimeRequestTimeout == "" {
		return "2m"
	}
	return k.opts.RuntimeRequestTimeout
}

// Log is the last lines of the kubelet's journal.
func (k *Kubelet) Log(lines int) string {
	if k.logPath != "" {
		out, _ := Run("tail", "-n", fmt.Sprint(lines), k.logPath)
		return out
	}
	out, _ := Run("journalctl", "-u", k.opts.Unit, "--no-pager", "-n", fmt.Sprint(lines), "-o", "cat")
	return out
}

// Stop stops the kubelet and removes its directory. The pods it ran are
// the caller's to remove.
func (k *Kubelet) Stop() error {
	var err error
	if k.child != nil {
		err = k.child.Process.Kill()
		<-k.exited
	} else {
		_, err = Run("systemctl", "stop", k.opts.Unit)
		_, _ = Run("systemctl", "reset-failed", k.opts.Unit)
	}
	RemoveTree(k.Dir)
	return err
}

// Apply writes a static pod manifest (JSON is YAML) whole: the kubelet
// ignores dot files, so it sees the file complete or not at all.
func (k *Kubelet) Apply(spec map[string]any) (string, error) {
	meta := spec["metadata"].(map[string]any)
	name := meta["name"].(string)
	if meta["namespace"] == nil {
		meta["namespace"] = "default"
	}
	spec["apiVersion"], spec["kind"] = "v1", "Pod"
	b, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(k.Manifests, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return "", err
	}
	return name, os.Rename(tmp, k.ManifestPath(name))
}

// ManifestPath is where a static pod's manifest is.
func (k *Kubelet) ManifestPath(name string) string { return filepath.Join(k.Manifests, name+".yaml") }

// FullName is the name the kubelet gives a static pod: its own with the
// node's appended.
func (k *Kubelet) FullName(name string) string { return name + "-" + k.Node }

// ContainerState is one of a container's states, as the kubelet reports it.
type ContainerState struct {
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

// ContainerStatus is a container's status in a pod's.
type ContainerStatus struct {
	Name         string         `json:"name"`
	ContainerID  string         `json:"containerID"`
	Ready        bool           `json:"ready"`
	RestartCount int            `json:"restartCount"`
	State        ContainerState `json:"state"`
	LastState    ContainerState `json:"lastState"`
}

// Pod is what the suite reads of a pod from the kubelet's /pods.
type Pod struct {
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
		InitContainerStatuses []ContainerStatus `json:"initContainerStatuses"`
		ContainerStatuses     []ContainerStatus `json:"containerStatuses"`
	} `json:"status"`
}

// Ready tells whether the pod's Ready condition is true.
func (p *Pod) Ready() bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// Container is a container's status, or nil.
func (p *Pod) Container(name string) *ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func (p *Pod) String() string {
	b, _ := json.Marshal(p.Status)
	return string(b)
}

// Pods lists the kubelet's pods, static ones with their status.
func (k *Kubelet) Pods() ([]Pod, error) {
	var list struct {
		Items []Pod `json:"items"`
	}
	err := k.GetJSON(fmt.Sprintf("http://127.0.0.1:%d/pods", k.opts.ReadOnlyPort), &list)
	return list.Items, err
}

// Pod is a static pod by its manifest's name, or nil.
func (k *Kubelet) Pod(name string) (*Pod, error) {
	pods, err := k.Pods()
	for _, p := range pods {
		if p.Metadata.Name == k.FullName(name) {
			return &p, nil
		}
	}
	return nil, err
}

// GetJSON reads a JSON answer of the kubelet's API.
func (k *Kubelet) GetJSON(url string, into any) error {
	resp, err := k.Client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("GET %s: %w: %s", url, err, b)
	}
	return nil
}

// HostChanges are what a kubelet changes on the host outside its
// directory, seen before it starts so that Undo can put them back.
type HostChanges struct {
	sysctls       map[string]string
	hadKubeletDir bool
	chains        []string
	// containerLogLinks are the entries of /var/log/containers (nil: no
	// such directory), where the kubelet links every container's log.
	containerLogLinks []string
}

// The sysctls the kubelet sets at start (protectKernelDefaults off); they
// are the host's, not the bed's.
var kubeletSysctls = []string{
	"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
}

// The device plugin directory and the one of the containers' log links are
// fixed, whatever the kubelet's root and pod log directories.
const (
	kubeletDir       = "/var/lib/kubelet"
	containerLogsDir = "/var/log/containers"
)

func dirEntries(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func sysctlPath(name string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
}

// SnapshotHost records what Undo restores.
func SnapshotHost() *HostChanges {
	h := &HostChanges{sysctls: map[string]string{}, chains: iptablesChains()}
	for _, s := range kubeletSysctls {
		if b, err := os.ReadFile(sysctlPath(s)); err == nil {
			h.sysctls[s] = strings.TrimSpace(string(b))
		}
	}
	_, err := os.Stat(kubeletDir)
	h.hadKubeletDir = err == nil
	h.containerLogLinks = dirEntries(containerLogsDir)
	return h
}

// Undo restores the sysctls, removes /var/lib/kubelet if the kubelet made
// it, the log links it added to /var/log/containers, and the KUBE- iptables
// chains it made. It does all it can and says
// what it could not.
func (h *HostChanges) Undo() error {
	var errs []error
	for s, v := range h.sysctls {
		if err := os.WriteFile(sysctlPath(s), []byte(v), 0); err != nil {
			errs = append(errs, fmt.Errorf("restoring sysctl %s=%s: %w", s, v, err))
		}
	}
	if !h.hadKubeletDir {
		errs = append(errs, os.RemoveAll(kubeletDir))
	}
	if h.containerLogLinks == nil {
		errs = append(errs, os.RemoveAll(containerLogsDir))
	} else {
		for _, name := range dirEntries(containerLogsDir) {
			if !slices.Contains(h.containerLogLinks, name) {
				errs = append(errs, os.Remove(filepath.Join(containerLogsDir, name)))
			}
		}
	}
	for _, c := range iptablesChains() {
		if !slices.Contains(h.chains, c) {
			table, chain, _ := strings.Cut(c, " ")
			_, _ = Run("iptables", "-t", table, "-F", chain)
			if _, err := Run("iptables", "-t", table, "-X", chain); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// iptablesChains lists "table chain" of every chain whose name starts KUBE-.
func iptablesChains() []string {
	var out []string
	for _, table := range []string{"filter", "nat", "mangle"} {
		s, err := Run("iptables", "-t", table, "-S")
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

// RemoveTree removes dir after unmounting anything mounted below it.
func RemoveTree(dir string) {
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

// Run runs a command and returns its standard output; its standard error
// is in the error.
func Run(name string, args ...string) (string, error) {
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

// Usage is a pod's or a container's CPU and memory in /stats/summary.
type Usage struct {
	CPU *struct {
		UsageCoreNanoSeconds uint64 `json:"usageCoreNanoSeconds"`
	} `json:"cpu"`
	Memory *struct {
		WorkingSetBytes uint64 `json:"workingSetBytes"`
		UsageBytes      uint64 `json:"usageBytes"`
	} `json:"memory"`
}

// Measured says whether the kubelet has CPU time and a working set for it.
func (u Usage) Measured() bool {
	return u.CPU != nil && u.CPU.UsageCoreNanoSeconds > 0 && u.Memory != nil && u.Memory.WorkingSetBytes > 0
}

// PodStats is a pod in /stats/summary.
type PodStats struct {
	PodRef struct {
		Name string `json:"name"`
	} `json:"podRef"`
	Usage
	Containers []struct {
		Name string `json:"name"`
		Usage
	} `json:"containers"`
}

// Summary is the pods of /stats/summary, read from the read-only port.
func (k *Kubelet) Summary() ([]PodStats, error) {
	var summary struct {
		Pods []PodStats `json:"pods"`
	}
	err := k.GetJSON(fmt.Sprintf("http://127.0.0.1:%d/stats/summary", k.opts.ReadOnlyPort), &summary)
	return summary.Pods, err
}
