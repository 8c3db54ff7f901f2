//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criClient is a CRI RuntimeService client on socket, for calls crictl
// would not make as they are.
func criClient(t *testing.T, socket string) runtimeapi.RuntimeServiceClient {
	t.Helper()
	return runtimeapi.NewRuntimeServiceClient(criConn(t, socket))
}

// criConn is a gRPC connection to socket, closed when the test ends.
func criConn(t *testing.T, socket string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// podConfig writes a crictl pod config and returns its path.
func podConfig(t *testing.T, name string, extra map[string]any) string {
	t.Helper()
	cfg := map[string]any{
		"metadata": map[string]any{"name": name, "namespace": "e2e", "uid": name + "-uid", "attempt": 1},
		"hostname": name,
		"labels":   map[string]string{"e2e-test": name},
	}
	for k, v := range extra {
		cfg[k] = v
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "pod.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type podInspect struct {
	Status struct {
		ID      string `json:"id"`
		State   string `json:"state"`
		Network struct {
			IP string `json:"ip"`
		} `json:"network"`
		Labels map[string]string `json:"labels"`
	} `json:"status"`
	Info struct {
		Unit    string `json:"unit"`
		RktUUID string `json:"rktUUID"`
		NetNS   string `json:"netns"`
		Machine string `json:"machine"`
	} `json:"info"`
}

func inspectp(t *testing.T, socket, id string) (podInspect, error) {
	t.Helper()
	out, err := crictl(t, socket, "inspectp", "-o", "json", id)
	if err != nil {
		return podInspect{}, err
	}
	var p podInspect
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("inspectp %q: %v", out, err)
	}
	return p, nil
}

func runp(t *testing.T, socket, config string) string {
	t.Helper()
	out, err := crictl(t, socket, "runp", config)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out)
	t.Cleanup(func() {
		_, _ = crictl(t, socket, "stopp", id)
		_, _ = crictl(t, socket, "rmp", id)
	})
	return id
}

func sh(t *testing.T, cmd string, args ...string) string {
	t.Helper()
	out, err := exec.Command(cmd, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", cmd, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func unitProps(t *testing.T, unit string, props ...string) map[string]string {
	t.Helper()
	out, _ := exec.Command("systemctl", "show", unit, "-p", strings.Join(props, ",")).Output()
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestSandboxLifecycleLeavesNothingBehind(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	const slice = "kubepods-besteffort-pode2elife.slice"
	id := runp(t, socket, podConfig(t, "lifecycle", map[string]any{
		"linux":         map[string]any{"cgroup_parent": slice},
		"port_mappings": []map[string]any{{"container_port": 80, "host_port": 12090}},
		"dns_config":    map[string]any{"servers": []string{"10.10.10.10"}, "searches": []string{"e2e.example"}},
	}))
	p, err := inspectp(t, socket, id)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.State != "SANDBOX_READY" || !strings.HasPrefix(p.Status.Network.IP, "10.88.77.") || !strings.Contains(p.Info.Unit, id) {
		t.Fatalf("inspectp: %+v", p)
	}
	unit := p.Info.Unit

	// The operator's view: systemctl and journalctl.
	props := unitProps(t, unit, "ActiveState", "Slice", "Description")
	if props["ActiveState"] != "active" || props["Slice"] != slice || props["Description"] != "rktlet pod e2e/lifecycle" {
		t.Fatalf("unit %s: %v", unit, props)
	}
	if status := sh(t, "systemctl", "status", "--no-pager", unit); !strings.Contains(status, slice) {
		t.Fatalf("systemctl status does not show the slice:\n%s", status)
	}
	if journal := sh(t, "journalctl", "-u", unit, "--no-pager", "-o", "cat"); strings.TrimSpace(journal) == "" {
		t.Fatal("journalctl -u shows nothing for the pod unit")
	}
	sh(t, "machinectl", "show", p.Info.Machine)
	if _, err := os.Stat(p.Info.NetNS); err != nil {
		t.Fatalf("netns: %v", err)
	}
	if out, _ := crictl(t, socket, "pods", "-q", "--label", "e2e-test=lifecycle"); strings.TrimSpace(out) != id {
		t.Fatalf("pods --label: %q", out)
	}
	veths := countVeths(t)
	ipFiles := ipAllocations(t)

	if _, err := crictl(t, socket, "stopp", id); err != nil {
		t.Fatal(err)
	}
	if p, _ := inspectp(t, socket, id); p.Status.State != "SANDBOX_NOTREADY" {
		t.Fatalf("after stopp: %s", p.Status.State)
	}
	if _, err := crictl(t, socket, "rmp", id); err != nil {
		t.Fatal(err)
	}
	if _, err := inspectp(t, socket, id); err == nil {
		t.Fatal("inspectp answers after rmp")
	}
	if st := unitProps(t, unit, "LoadState")["LoadState"]; st != "not-found" {
		t.Errorf("unit %s is still loaded (%s)", unit, st)
	}
	if _, err := os.Stat(p.Info.NetNS); !os.IsNotExist(err) {
		t.Errorf("netns %s left behind", p.Info.NetNS)
	}
	if n := countVeths(t); n != veths-1 {
		t.Errorf("veths: %d before stop, %d after; want one fewer", veths, n)
	}
	if n := ipAllocations(t); n != ipFiles-1 {
		t.Errorf("IP allocations: %d before, %d after; want one fewer", ipFiles, n)
	}
	if rules := sh(t, "iptables-save"); strings.Contains(rules, id) {
		t.Error("iptables rules of the pod left behind")
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), p.Info.RktUUID) {
		t.Error("mounts of the rkt pod left behind")
	}
	if list := sh(t, env(t, "RKT_PATH"), "--dir="+env(t, "RKT_DATA_DIR"), "list", "--full", "--no-legend"); strings.Contains(list, p.Info.RktUUID) {
		t.Errorf("rkt pod %s left behind:\n%s", p.Info.RktUUID, list)
	}
	if _, err := os.Stat(filepath.Join(env(t, "RKTLET_STATE_DIR"), "sandboxes", id+".json")); !os.IsNotExist(err) {
		t.Error("sandbox state file left behind")
	}
}

func countVeths(t *testing.T) int {
	return strings.Count(sh(t, "ip", "-o", "link", "show", "type", "veth"), "\n")
}

func ipAllocations(t *testing.T) int {
	entries, _ := os.ReadDir("/var/lib/rktlet-testbed/cni-ipam/rktlet-testbed")
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "10.") {
			n++
		}
	}
	return n
}

func TestSandboxStateFollowsSystemd(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	id := runp(t, socket, podConfig(t, "follows", nil))
	p, err := inspectp(t, socket, id)
	if err != nil {
		t.Fatal(err)
	}
	// Someone stops the unit behind rktlet's back.
	sh(t, "systemctl", "stop", p.Info.Unit)
	deadline := time.Now().Add(2 * time.Second)
	for {
		p, _ = inspectp(t, socket, id)
		if p.Status.State == "SANDBOX_NOTREADY" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %s 2 s after the unit stopped", p.Status.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := crictl(t, socket, "rmp", id); err != nil {
		t.Fatal(err)
	}
}

func TestSandboxBadInput(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	// crictl fills in a missing uid; the RPC is made directly.
	client := criClient(t, socket)
	for field, md := range map[string]*runtimeapi.PodSandboxMetadata{
		"metadata.uid":       {Name: "x", Namespace: "e2e"},
		"metadata.name":      {Namespace: "e2e", Uid: "u"},
		"metadata.namespace": {Name: "x", Uid: "u"},
	} {
		_, err := client.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{Metadata: md}})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), field) {
			t.Errorf("RunPodSandbox without %s: %v, want InvalidArgument naming it", field, err)
		}
	}
	if _, err := client.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("RunPodSandbox without config: %v", err)
	}
	if _, err := client.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("PodSandboxStatus without an ID: %v", err)
	}
	if _, err := crictl(t, socket, "inspectp", "0123456789abcdef"); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("inspectp of an unknown ID: %v", err)
	}
	if _, err := crictl(t, socket, "stopp", "0123456789abcdef"); err != nil {
		t.Fatalf("stopp of an unknown ID: %v", err)
	}
}

// A stage1 image rkt cannot import refuses pods before anything is made.
func TestSandboxUnimportableStage1(t *testing.T) {
	bogus := filepath.Join(t.TempDir(), "stage1-host.aci")
	// A gzip header and nothing else: Status's cheap check passes, rkt's
	// import fails.
	os.WriteFile(bogus, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, 0o644)
	inst := startInstance(t, "--stage1-path", bogus)
	before := captureHostState(t)
	_, err := crictl(t, inst.socket, "runp", podConfig(t, "unimportable", nil))
	if err == nil || !strings.Contains(err.Error(), "FailedPrecondition") || !strings.Contains(err.Error(), bogus) {
		t.Fatalf("a pod with an unimportable stage1: %v, want FailedPrecondition naming %s", err, bogus)
	}
	t.Logf("refused: %v", err)
	assertNoPodLeft(t, inst, before)
}

// A pod whose unit fails is undone, and the error says why.
func TestSandboxFailedStartLeavesNothing(t *testing.T) {
	// A stage1 rkt stores and runs, whose init fails at once.
	broken := filepath.Join(t.TempDir(), "stage1-broken.aci")
	writeBrokenStage1(t, broken)
	inst := startInstance(t, "--stage1-path", broken)
	before := captureHostState(t)
	_, err := crictl(t, inst.socket, "runp", podConfig(t, "failing", nil))
	if err == nil {
		t.Fatal("a pod with a broken stage1 started")
	}
	if !strings.Contains(err.Error(), "did not start (result") || !strings.Contains(err.Error(), "stage1 broken on purpose") {
		t.Fatalf("error %v does not give the unit's result and journal", err)
	}
	t.Logf("failed: %v", err)
	assertNoPodLeft(t, inst, before)
}

// hostState is what a pod that failed to start must not have changed.
type hostState struct {
	netns string
	// ipam are the addresses the bed's CNI IPAM (host-local) has handed
	// out, a file each in its data dir: a network taken down before its
	// setup ended would leave one behind.
	ipam []string
}

func captureHostState(t *testing.T) hostState {
	t.Helper()
	return hostState{netns: sh(t, "ip", "netns", "list"), ipam: ipamAllocations(t)}
}

func assertNoPodLeft(t *testing.T, inst *instance, before hostState) {
	t.Helper()
	if out, _ := crictl(t, inst.socket, "pods", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("pods after the failure: %q", out)
	}
	after := captureHostState(t)
	if after.netns != before.netns {
		t.Fatalf("netns left behind:\nbefore %s\nafter %s", before.netns, after.netns)
	}
	if !slices.Equal(after.ipam, before.ipam) {
		t.Fatalf("IPAM allocations left behind:\nbefore %v\nafter %v", before.ipam, after.ipam)
	}
	if units := sh(t, "systemctl", "list-units", "--all", "--no-legend", "rktlet-pod-*"); strings.Contains(units, "failed") {
		t.Fatalf("failed unit left behind:\n%s", units)
	}
}

// ipamAllocations lists the address files in the data dir of the IPAM of
// every network in CNI_CONF_DIR.
func ipamAllocations(t *testing.T) []string {
	t.Helper()
	confDir := env(t, "CNI_CONF_DIR")
	entries, err := os.ReadDir(confDir)
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(confDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var conf struct {
			Plugins []struct {
				IPAM struct {
					DataDir string `json:"dataDir"`
				} `json:"ipam"`
			} `json:"plugins"`
		}
		if json.Unmarshal(b, &conf) != nil {
			continue
		}
		for _, p := range conf.Plugins {
			if p.IPAM.DataDir == "" {
				continue
			}
			_ = filepath.WalkDir(p.IPAM.DataDir, func(path string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && net.ParseIP(d.Name()) != nil {
					ips = append(ips, path)
				}
				return nil
			})
		}
	}
	slices.Sort(ips)
	return ips
}

// writeBrokenStage1 writes a stage1 ACI with stage1-host's interface whose
// run entrypoint exits 3.
func writeBrokenStage1(t *testing.T, path string) {
	t.Helper()
	annotations := []map[string]string{{"name": "coreos.com/rkt/stage1/interface-version", "value": "6"}}
	for _, e := range []string{"run", "enter", "gc", "stop", "app/add", "app/rm", "app/start", "app/stop", "attach"} {
		annotations = append(annotations, map[string]string{"name": "coreos.com/rkt/stage1/" + e, "value": "/init"})
	}
	manifest, err := json.Marshal(map[string]any{
		"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "rktlet.test/stage1-broken",
		"labels":      []map[string]string{{"name": "version", "value": "1.30.0"}, {"name": "arch", "value": "amd64"}, {"name": "os", "value": "linux"}},
		"annotations": annotations,
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		mode int64
		body string
	}{
		{"manifest", 0o644, string(manifest)},
		{"rootfs/", 0o755, ""},
		{"rootfs/rkt/", 0o755, ""},
		{"rootfs/rkt/status/", 0o755, ""},
		{"rootfs/init", 0o755, "#!/bin/sh\necho 'stage1 broken on purpose' >&2\nexit 3\n"},
	} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSandboxRecoveryAfterSIGKILL(t *testing.T) {
	dir, err := os.MkdirTemp("", "rktlet-e2e-recovery-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeDataDir(dir) })
	first := startInstanceIn(t, dir)
	var ids []string
	for i := 0; i < 5; i++ {
		out, err := crictl(t, first.socket, "runp", podConfig(t, fmt.Sprintf("recovery-%d", i), nil))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	if _, err := crictl(t, first.socket, "stopp", ids[4]); err != nil {
		t.Fatal(err)
	}
	before, _ := crictl(t, first.socket, "pods", "-o", "json")
	first.cmd.Process.Kill()
	<-first.exited
	first.exited <- nil

	second := startInstanceIn(t, dir)
	after, err := crictl(t, second.socket, "pods", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if states(t, before) != states(t, after) {
		t.Fatalf("pods before the kill:\n%s\nafter the restart:\n%s", states(t, before), states(t, after))
	}
	for _, id := range ids {
		if _, err := crictl(t, second.socket, "stopp", id); err != nil {
			t.Fatal(err)
		}
		if _, err := crictl(t, second.socket, "rmp", id); err != nil {
			t.Fatal(err)
		}
	}
	if out, _ := crictl(t, second.socket, "pods", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("pods left: %q", out)
	}
}

// states reduces `crictl pods -o json` to sorted "id state" lines.
func states(t *testing.T, podsJSON string) string {
	var l struct {
		Items []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(podsJSON), &l); err != nil {
		t.Fatalf("%q: %v", podsJSON, err)
	}
	var lines []string
	for _, p := range l.Items {
		lines = append(lines, p.ID+" "+p.State)
	}
	sortStrings(lines)
	return strings.Join(lines, "\n")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
