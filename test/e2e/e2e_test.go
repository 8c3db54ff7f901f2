//go:build e2e

// Package e2e drives rktlet through the real CRI clients inside the test bed
// (hack/testbed/testbed.sh): a real systemd, rkt, CNI plugins and registries. Run it
// with `make e2e`; hack/test-e2e.sh sets the environment below.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rktlet/rktlet/test/kubeletnode"
)

// env reads a setting the test bed passes in.
func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the e2e tests with `make e2e`", name)
	}
	return v
}

// crictl runs crictl against socket and returns its stdout.
func crictl(t *testing.T, socket string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"--runtime-endpoint", "unix://" + socket, "--image-endpoint", "unix://" + socket, "--timeout", "20s"}, args...)
	cmd := exec.CommandContext(ctx, env(t, "CRICTL"), full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("crictl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

type condition struct {
	Type    string `json:"type"`
	Status  bool   `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

type info struct {
	Status struct {
		Conditions []condition `json:"conditions"`
	} `json:"status"`
	Config json.RawMessage `json:"config"`
}

func crictlInfo(t *testing.T, socket string) (info, map[string]condition) {
	t.Helper()
	out, err := crictl(t, socket, "info", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var i info
	if err := json.Unmarshal([]byte(out), &i); err != nil {
		t.Fatalf("crictl info output %q: %v", out, err)
	}
	conds := map[string]condition{}
	for _, c := range i.Status.Conditions {
		conds[c.Type] = c
	}
	return i, conds
}

// instance is a private rktlet with its own socket and directories, so a
// test can change its settings without touching the bed's main rktlet.
type instance struct {
	socket string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan error
}

func startInstance(t *testing.T, extraArgs ...string) *instance {
	t.Helper()
	dir, err := os.MkdirTemp("", "rktlet-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeDataDir(dir) })
	return startInstanceIn(t, dir, extraArgs...)
}

// removeDataDir removes an instance's directory, unmounting what rkt left
// mounted under it first.
func removeDataDir(dir string) { kubeletnode.RemoveTree(dir) }

// startInstanceIn starts a rktlet whose socket and directories are in dir,
// so a second one started in the same dir finds the first one's state.
func startInstanceIn(t *testing.T, dir string, extraArgs ...string) *instance {
	t.Helper()
	inst := &instance{socket: filepath.Join(dir, "rktlet.sock"), stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	args := []string{
		"--socket", inst.socket,
		"--rkt-path", env(t, "RKT_PATH"),
		"--stage1-path", env(t, "STAGE1_PATH"),
		"--rkt-data-dir", filepath.Join(dir, "rkt"),
		"--state-dir", filepath.Join(dir, "state"),
		"--cni-conf-dir", env(t, "CNI_CONF_DIR"),
		"--cni-plugin-dirs", env(t, "CNI_PLUGIN_DIRS"),
		"--log-level", "debug",
		// The bed's rktlet has the default port.
		"--metrics-address", "127.0.0.1:0",
	}
	inst.cmd = exec.Command(env(t, "RKTLET_BIN"), append(args, extraArgs...)...)
	inst.cmd.Stderr = inst.stderr
	if err := inst.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { inst.exited <- inst.cmd.Wait() }()
	t.Cleanup(func() {
		_ = inst.cmd.Process.Kill()
		<-inst.exited
		if t.Failed() {
			t.Logf("rktlet log:\n%s", inst.stderr)
		}
	})
	// Serving is not enough: until rktlet has recovered its pods, pod and
	// container calls answer Unavailable, and Status says why. The wait is
	// for that, whether or not the instance is otherwise ready.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if recovered, err := instanceRecovered(t, inst.socket); err == nil && recovered {
			return inst
		}
		select {
		case err := <-inst.exited:
			inst.exited <- err
			t.Fatalf("rktlet exited at start: %v\n%s", err, inst.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rktlet did not answer on %s\n%s", inst.socket, inst.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// instanceRecovered tells whether a serving rktlet has recovered its pods:
// its RuntimeReady condition no longer has the reason Recovering.
func instanceRecovered(t *testing.T, socket string) (bool, error) {
	t.Helper()
	out, err := crictl(t, socket, "info", "-o", "json")
	if err != nil {
		return false, err
	}
	var i info
	if err := json.Unmarshal([]byte(out), &i); err != nil {
		return false, err
	}
	for _, c := range i.Status.Conditions {
		if c.Type == "RuntimeReady" {
			return c.Reason != "Recovering", nil
		}
	}
	return false, fmt.Errorf("no RuntimeReady condition in %s", out)
}

func TestCrictlVersion(t *testing.T) {
	out, err := crictl(t, env(t, "RKTLET_SOCKET"), "version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"RuntimeName:  rktlet", "RuntimeApiVersion:  v1", "+rkt.1.30.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("crictl version output lacks %q:\n%s", want, out)
		}
	}
}

func TestCrictlInfoReady(t *testing.T) {
	i, conds := crictlInfo(t, env(t, "RKTLET_SOCKET"))
	for _, typ := range []string{"RuntimeReady", "NetworkReady"} {
		if c, ok := conds[typ]; !ok || !c.Status {
			t.Errorf("%s = %+v, want true", typ, c)
		}
	}
	var cfg map[string]any
	if err := json.Unmarshal(i.Config, &cfg); err != nil || cfg["socket"] != env(t, "RKTLET_SOCKET") {
		t.Errorf("verbose info config = %s (%v), want the effective config", i.Config, err)
	}
}

func TestNetworkReadyFollowsCNIConfig(t *testing.T) {
	confDir := t.TempDir()
	src := env(t, "CNI_CONF_DIR")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(confDir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inst := startInstance(t, "--cni-conf-dir", confDir)
	if _, conds := crictlInfo(t, inst.socket); !conds["NetworkReady"].Status {
		t.Fatalf("NetworkReady = %+v with a config in place", conds["NetworkReady"])
	}

	parked := t.TempDir()
	for _, e := range entries {
		if err := os.Rename(filepath.Join(confDir, e.Name()), filepath.Join(parked, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	_, conds := crictlInfo(t, inst.socket)
	nr := conds["NetworkReady"]
	if nr.Status || nr.Reason != "NetworkPluginNotReady" || !strings.Contains(nr.Message, confDir) {
		t.Fatalf("NetworkReady = %+v without a config, want false naming %s", nr, confDir)
	}
	if !conds["RuntimeReady"].Status {
		t.Fatalf("RuntimeReady = %+v, a missing network must not make the runtime unready", conds["RuntimeReady"])
	}

	for _, e := range entries {
		if err := os.Rename(filepath.Join(parked, e.Name()), filepath.Join(confDir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if _, conds := crictlInfo(t, inst.socket); !conds["NetworkReady"].Status {
		t.Fatalf("NetworkReady = %+v after the config came back", conds["NetworkReady"])
	}
}

func TestMissingRktOrStage1IsNotReady(t *testing.T) {
	for _, tc := range []struct{ flag, path, reason string }{
		{"--rkt-path", "/nonexistent/bin/rkt", "RktUnusable"},
		{"--stage1-path", "/nonexistent/stage1-host.aci", "Stage1Unusable"},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			inst := startInstance(t, tc.flag, tc.path)
			_, conds := crictlInfo(t, inst.socket)
			rr := conds["RuntimeReady"]
			if rr.Status || rr.Reason != tc.reason || !strings.Contains(rr.Message, tc.path) {
				t.Fatalf("RuntimeReady = %+v, want false with reason %s naming %s", rr, tc.reason, tc.path)
			}
			out, err := crictl(t, inst.socket, "version")
			if err != nil {
				t.Fatalf("Version must answer even when not ready: %v", err)
			}
			if tc.flag == "--rkt-path" && !strings.Contains(out, "+rkt.unavailable") {
				t.Fatalf("version with a missing rkt: %q, want +rkt.unavailable", out)
			}
		})
	}
}

func TestSecondRktletOnSameSocketExits(t *testing.T) {
	first := startInstance(t)
	second := exec.Command(env(t, "RKTLET_BIN"), "--socket", first.socket,
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--rkt-data-dir", filepath.Join(t.TempDir(), "rkt"))
	var stderr bytes.Buffer
	second.Stderr = &stderr
	done := make(chan error, 1)
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("second rktlet exited 0")
		}
		if !strings.Contains(stderr.String(), "another") || !strings.Contains(stderr.String(), first.socket) {
			t.Fatalf("second rktlet's message %q does not say the socket is taken", stderr.String())
		}
	case <-time.After(10 * time.Second):
		_ = second.Process.Kill()
		t.Fatal("second rktlet kept running")
	}
	if _, err := crictl(t, first.socket, "version"); err != nil {
		t.Fatalf("first rktlet stopped answering: %v", err)
	}
}

func TestSIGTERMExitsCleanly(t *testing.T) {
	inst := startInstance(t)
	if err := inst.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-inst.exited:
		inst.exited <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, inst.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("rktlet did not exit within 10 s of SIGTERM")
	}
	if _, err := os.Stat(inst.socket); !os.IsNotExist(err) {
		t.Fatalf("socket left behind after a clean exit: %v", err)
	}
}

func TestBadConfigFileRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rktlet.toml")
	if err := os.WriteFile(file, []byte("socket = \"/run/x.sock\"\nstage1-pth = \"/x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(env(t, "RKTLET_BIN"), "--config", file).CombinedOutput()
	if err == nil {
		t.Fatal("rktlet accepted a config file with an unknown key")
	}
	if !strings.Contains(string(out), `"stage1-pth"`) {
		t.Fatalf("message %q does not name the key", out)
	}
}
