//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What `make install` put in INSTALL_ROOT (hack/test-e2e.sh runs it with
// that DESTDIR) starts and runs as the unit it installed, in the bed's
// systemd: active once it serves and has recovered, its errors at err
// priority in the journal, its pods alive across a restart, its metrics up.
// The unit and config are the installed ones, with their paths moved into
// the scratch root and the config pointed at the bed (its own socket,
// state, metrics port; the bed's CNI network and registry).
func TestInstalledUnit(t *testing.T) {
	root := env(t, "INSTALL_ROOT")
	unitDir := env(t, "TESTBED_UNITS")
	// A name of its own each run: systemd loads a unit file it never saw on
	// demand, so no daemon-reload is needed (one would be wrong in the bed,
	// whose unit path is its own).
	name := fmt.Sprintf("rktlet-installed-%d", time.Now().UnixNano())
	unit := name + ".service"
	work := t.TempDir()
	// The socket lies in the unit's RuntimeDirectory, as the installed
	// default does (/run/rktlet/rktlet.sock); named after the unit, since
	// systemd removes it when the unit stops and the bed's rktlet uses
	// /run/rktlet.
	socket := filepath.Join("/run", name, "rktlet.sock")

	b, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/rktlet.service"))
	if err != nil {
		t.Fatal(err)
	}
	unitText := strings.ReplaceAll(string(b), "ExecStart=/usr/local/bin/rktlet --config=/etc/",
		"ExecStart="+root+"/usr/local/bin/rktlet --config="+root+"/etc/")
	if unitText == string(b) {
		t.Fatalf("the installed unit's ExecStart is not the expected one:\n%s", b)
	}
	if !strings.Contains(unitText, "\nRuntimeDirectory=rktlet\n") {
		t.Fatalf("the installed unit has no RuntimeDirectory=rktlet:\n%s", b)
	}
	unitText = strings.ReplaceAll(unitText, "\nRuntimeDirectory=rktlet\n", "\nRuntimeDirectory="+name+"\n")
	for _, want := range []string{"Type=notify", "Restart=always", "OOMScoreAdjust=-999", "KillMode=process"} {
		if !strings.Contains(unitText, want) {
			t.Errorf("the installed unit lacks %s", want)
		}
	}
	cfgPath := filepath.Join(root, "etc/rktlet/rktlet.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	replace := map[string]string{
		"socket":          socket,
		"rkt-path":        root + "/usr/local/bin/rkt",
		"stage1-path":     root + "/usr/local/lib/rkt/stage1-images/stage1-host.aci",
		"rkt-data-dir":    filepath.Join(work, "rkt"),
		"state-dir":       filepath.Join(work, "state"),
		"cni-conf-dir":    env(t, "CNI_CONF_DIR"),
		"metrics-address": "127.0.0.1:9779",
		"log-level":       "debug",
	}
	var lines []string
	for _, line := range strings.Split(string(cfg), "\n") {
		key, _, _ := strings.Cut(line, " = ")
		if v, ok := replace[key]; ok {
			line = fmt.Sprintf("%s = %q", key, v)
			delete(replace, key)
		}
		if key == "registry-mirrors-only" {
			line = "registry-mirrors-only = true"
		}
		if line == "[registry-mirrors]" {
			line += "\n\"registry.k8s.io\" = [\"http://" + env(t, "TESTBED_REGISTRY") + "\"]"
		}
		lines = append(lines, line)
	}
	if len(replace) > 0 {
		t.Fatalf("keys not in the installed config: %v", replace)
	}
	if err := os.WriteFile(filepath.Join(work, "rktlet.toml"), []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	unitText = strings.ReplaceAll(unitText, "--config="+root+"/etc/rktlet/rktlet.toml", "--config="+filepath.Join(work, "rktlet.toml"))
	if err := os.WriteFile(filepath.Join(unitDir, unit), []byte(unitText), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("systemctl", "stop", unit).Run()
		_ = exec.Command("systemctl", "reset-failed", unit).Run()
		_ = os.Remove(filepath.Join(unitDir, unit))
		removeDataDir(work)
	})

	// Active only once it serves and has recovered: each time systemd says
	// active, rktlet answers Status with RuntimeReady.
	sh(t, "systemctl", "start", "--no-block", unit)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		state := strings.TrimSpace(sh(t, "systemctl", "show", "-p", "ActiveState", "--value", unit))
		if state == "active" {
			if recovered, err := instanceRecovered(t, socket); err != nil || !recovered {
				t.Fatalf("the unit is active but rktlet does not serve, or has not recovered: %v %v", recovered, err)
			}
			break
		}
		if state == "failed" || time.Now().After(deadline) {
			out, _ := exec.Command("journalctl", "-u", unit, "--no-pager", "-n", "30").CombinedOutput()
			t.Fatalf("the installed unit is %s:\n%s", state, out)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A failed RPC at err priority, nothing below it.
	missing := fmt.Sprintf("%064d", time.Now().UnixNano())
	if _, err := crictl(t, socket, "inspectp", missing); err == nil {
		t.Fatal("inspectp of an unknown pod succeeded")
	}
	var errs string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && !strings.Contains(errs, missing); time.Sleep(200 * time.Millisecond) {
		out, _ := exec.Command("journalctl", "-u", unit, "-p", "err", "--no-pager", "-o", "cat").Output()
		errs = string(out)
	}
	if !strings.Contains(errs, "RPC failed") || !strings.Contains(errs, missing) {
		t.Errorf("journalctl -u %s -p err lacks the failed RPC:\n%s", unit, errs)
	}
	if strings.Contains(errs, "level=INFO") || strings.Contains(errs, "level=DEBUG") {
		t.Errorf("journalctl -p err shows lines below err:\n%s", errs)
	}

	// A pod survives `systemctl restart`.
	podID := strings.TrimSpace(mustCrictl(t, socket, "runp", podConfig(t, "installed-unit", nil)))
	t.Cleanup(func() {
		_, _ = crictl(t, socket, "stopp", podID)
		_, _ = crictl(t, socket, "rmp", podID)
	})
	podUnit := "rktlet-pod-" + podID + ".service"
	pidBefore := sh(t, "systemctl", "show", "-p", "MainPID", "--value", podUnit)
	sh(t, "systemctl", "restart", unit)
	if recovered, err := instanceRecovered(t, socket); err != nil || !recovered {
		t.Fatalf("after systemctl restart, rktlet does not serve recovered: %v %v", recovered, err)
	}
	if state := strings.TrimSpace(sh(t, "systemctl", "show", "-p", "ActiveState", "--value", podUnit)); state != "active" {
		t.Fatalf("the pod's unit is %s after the restart", state)
	}
	if pid := sh(t, "systemctl", "show", "-p", "MainPID", "--value", podUnit); pid != pidBefore {
		t.Errorf("the pod's process changed across the restart: %s → %s", pidBefore, pid)
	}
	if out := mustCrictl(t, socket, "inspectp", "-o", "go-template", "--template", "{{.status.state}}", podID); strings.TrimSpace(out) != "SANDBOX_READY" {
		t.Errorf("the pod after the restart: %s", out)
	}

	// Metrics answer and count this test's RPCs.
	resp, err := http.Get("http://127.0.0.1:9779/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `rktlet_rpc_duration_seconds_count{code="OK",method="/runtime.v1.RuntimeService/PodSandboxStatus"}`) ||
		!strings.Contains(string(body), "rktlet_recovery_duration_seconds") {
		t.Errorf("the installed rktlet's metrics lack its RPCs:\n%.2000s", body)
	}

	// Stopped, it leaves no socket behind: systemd removes its runtime
	// directory.
	sh(t, "systemctl", "stop", unit)
	if _, err := os.Stat(filepath.Dir(socket)); !os.IsNotExist(err) {
		t.Errorf("%s is still there after the unit stopped (%v)", filepath.Dir(socket), err)
	}
}

func mustCrictl(t *testing.T, socket string, args ...string) string {
	t.Helper()
	out, err := crictl(t, socket, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
