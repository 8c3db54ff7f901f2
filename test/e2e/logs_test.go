//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const busybox = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

// logPod starts a pod whose logs go to a fresh directory and returns its
// ID, its config file and that directory.
func logPod(t *testing.T, socket, name string) (string, string, string) {
	t.Helper()
	if _, err := crictl(t, socket, "pull", busybox); err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	cfg := podConfig(t, name, map[string]any{"log_directory": logDir})
	return runp(t, socket, cfg), cfg, logDir
}

// shContainer creates and starts a busybox container running script, with
// its log in the pod's log directory.
func shContainer(t *testing.T, socket, podID, podCfg, name, script string) string {
	t.Helper()
	return startContainer(t, socket, podID, podCfg, map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": busybox},
		"command":  []string{"sh", "-c", script},
		"log_path": name + ".log",
	})
}

// startContainer creates a container from cfg (crictl's JSON) in the pod
// and starts it.
func startContainer(t *testing.T, socket, podID, podCfg string, cfg map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "ctr.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := crictl(t, socket, "create", podID, path, podCfg)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out)
	if _, err := crictl(t, socket, "start", id); err != nil {
		t.Fatal(err)
	}
	return id
}

type containerInspect struct {
	Status struct {
		State    string `json:"state"`
		ExitCode int    `json:"exitCode"`
		LogPath  string `json:"logPath"`
		Message  string `json:"message"`
	} `json:"status"`
	Info struct {
		App string `json:"app"`
	} `json:"info"`
}

func inspectContainer(t *testing.T, socket, id string) containerInspect {
	t.Helper()
	out, err := crictl(t, socket, "inspect", "-o", "json", id)
	if err != nil {
		t.Fatal(err)
	}
	var c containerInspect
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("inspect %q: %v", out, err)
	}
	return c
}

func waitExited(t *testing.T, socket, id string, timeout time.Duration) containerInspect {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c := inspectContainer(t, socket, id)
		if c.Status.State == "CONTAINER_EXITED" {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %s after %v", id, c.Status.State, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// criLine is one line of a CRI log file.
type criLine struct {
	time    time.Time
	stream  string
	partial bool
	msg     string
}

func readCRILog(t *testing.T, paths ...string) []criLine {
	t.Helper()
	var lines []criLine
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("%s does not end with a newline", path)
		}
		for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if l == "" {
				continue
			}
			f := strings.SplitN(l, " ", 4)
			if len(f) < 3 {
				t.Fatalf("%s:%d: malformed CRI log line %q", path, i+1, l)
			}
			ts, err := time.Parse(time.RFC3339Nano, f[0])
			if err != nil {
				t.Fatalf("%s:%d: timestamp: %v", path, i+1, err)
			}
			if f[1] != "stdout" && f[1] != "stderr" {
				t.Fatalf("%s:%d: stream %q", path, i+1, f[1])
			}
			if f[2] != "P" && f[2] != "F" {
				t.Fatalf("%s:%d: tag %q", path, i+1, f[2])
			}
			msg := ""
			if len(f) == 4 {
				msg = f[3]
			}
			lines = append(lines, criLine{ts, f[1], f[2] == "P", msg})
		}
	}
	return lines
}

// assembled is what the kubelet makes of a stream: P pieces joined up to
// the next F. A trailing run of P pieces is reported with partial set.
type assembled struct {
	msg     string
	pieces  int
	partial bool
}

func assemble(lines []criLine, stream string) []assembled {
	var out []assembled
	var cur strings.Builder
	pieces := 0
	for _, l := range lines {
		if l.stream != stream {
			continue
		}
		cur.WriteString(l.msg)
		pieces++
		if !l.partial {
			out = append(out, assembled{cur.String(), pieces, false})
			cur.Reset()
			pieces = 0
		}
	}
	if pieces > 0 {
		out = append(out, assembled{cur.String(), pieces, true})
	}
	return out
}

// numbered checks that lines are prefix 1 … prefix n, each once, in order.
func numbered(t *testing.T, what string, got []assembled, prefix string, n int) {
	t.Helper()
	if len(got) < n {
		t.Fatalf("%s: %d lines, want %d", what, len(got), n)
	}
	for i := 0; i < n; i++ {
		if want := prefix + strconv.Itoa(i+1); got[i].msg != want || got[i].partial {
			t.Fatalf("%s: line %d is %q (partial %v), want %q", what, i+1, got[i].msg, got[i].partial, want)
		}
	}
}

func TestLogsStreamsLongLinesAndLastPartial(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	podID, podCfg, logDir := logPod(t, socket, "logs-streams")
	script := `i=1; while [ $i -le 10000 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done
head -c 20000 /dev/zero | tr '\0' x; echo; printf 'last line without newline'`
	id := shContainer(t, socket, podID, podCfg, "writer", script)
	c := waitExited(t, socket, id, 2*time.Minute)
	if c.Status.ExitCode != 0 {
		t.Fatalf("exit code %d", c.Status.ExitCode)
	}
	if want := filepath.Join(logDir, "writer.log"); c.Status.LogPath != want {
		t.Fatalf("log path %q, want %q", c.Status.LogPath, want)
	}
	lines := readCRILog(t, c.Status.LogPath)
	for i := 1; i < len(lines); i++ {
		if lines[i].time.Before(lines[i-1].time) {
			t.Fatalf("line %d goes back in time: %v after %v", i+1, lines[i].time, lines[i-1].time)
		}
	}
	stderr := assemble(lines, "stderr")
	numbered(t, "stderr", stderr, "err ", 10000)
	if len(stderr) != 10000 {
		t.Fatalf("stderr has %d lines, want 10000", len(stderr))
	}
	stdout := assemble(lines, "stdout")
	numbered(t, "stdout", stdout, "out ", 10000)
	if len(stdout) != 10002 {
		t.Fatalf("stdout has %d lines, want 10002: %+v", len(stdout), stdout[10000:])
	}
	if long := stdout[10000]; long.msg != strings.Repeat("x", 20000) || long.partial || long.pieces < 2 {
		t.Fatalf("the 20000-byte line came back as %d bytes in %d pieces (partial %v)", len(long.msg), long.pieces, long.partial)
	}
	if last := stdout[10001]; last.msg != "last line without newline" || !last.partial {
		t.Fatalf("the last line is %+v, want it tagged P", last)
	}
	for _, l := range lines {
		if len(l.msg) > 16*1024 {
			t.Fatalf("a CRI log line holds %d bytes, more than the 16 KiB pieces", len(l.msg))
		}
	}

	// crictl logs prints the stdout lines on its stdout, the long one
	// joined again.
	out, err := crictl(t, socket, "logs", id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "out 10000\n"+strings.Repeat("x", 20000)+"\n") || !strings.HasSuffix(out, "last line without newline") {
		t.Fatalf("crictl logs: %d bytes ending %q", len(out), out[max(0, len(out)-80):])
	}

	// Operators see the same lines in the pod's journal, each stream on
	// its own (docs/internals.md, Logs: journalctl -M rkt-<uuid> -t <app> RKT_STREAM=…).
	p, err := inspectp(t, socket, podID)
	if err != nil {
		t.Fatal(err)
	}
	app := "ctr-" + id[:20]
	for stream, want := range map[string]int{"stderr": 10000, "stdout": 10002} {
		out := sh(t, "journalctl", "-M", p.Info.Machine, "-t", app, "RKT_STREAM="+stream, "-o", "cat", "--no-pager")
		got := assembleJournal(out)
		if got != want {
			t.Fatalf("journalctl -M %s -t %s RKT_STREAM=%s: %d lines, want %d", p.Info.Machine, app, stream, got, want)
		}
		if !strings.Contains(out, map[string]string{"stdout": "out", "stderr": "err"}[stream]+" 10000\n") {
			t.Fatalf("journalctl %s lacks its last numbered line", stream)
		}
	}
}

// assembleJournal counts the lines journalctl -o cat printed, the 16 KiB
// pieces of a long line counting once.
func assembleJournal(out string) int {
	n := 0
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if len(l) == 16*1024 && strings.Trim(l, "x") == "" {
			continue // a piece of the long line; its last piece counts
		}
		n++
	}
	return n
}

func TestLogsSurviveRktletSIGKILL(t *testing.T) {
	dir, err := os.MkdirTemp("", "rktlet-e2e-logs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeDataDir(dir) })
	mirror := "--registry-mirror=registry.k8s.io=http://" + env(t, "TESTBED_REGISTRY")
	first := startInstanceIn(t, dir, mirror)
	podID, podCfg, _ := logPod(t, first.socket, "logs-restart")
	// About 4 s of steady output.
	script := `i=1; while [ $i -le 20000 ]; do echo "line $i"; i=$((i+1)); [ $((i % 50)) = 0 ] && usleep 10000; done`
	id := shContainer(t, first.socket, podID, podCfg, "steady", script)
	time.Sleep(1500 * time.Millisecond)
	first.cmd.Process.Kill()
	<-first.exited
	first.exited <- nil

	second := startInstanceIn(t, dir, mirror)
	t.Cleanup(func() {
		_, _ = crictl(t, second.socket, "stopp", podID)
		_, _ = crictl(t, second.socket, "rmp", podID)
	})
	c := waitExited(t, second.socket, id, 2*time.Minute)
	lines := assemble(readCRILog(t, c.Status.LogPath), "stdout")
	numbered(t, "after the restart", lines, "line ", 20000)
	if len(lines) != 20000 {
		t.Fatalf("%d lines, want 20000", len(lines))
	}
}

func TestLogsRotateWithReopenContainerLog(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	podID, podCfg, _ := logPod(t, socket, "logs-rotate")
	script := `i=1; while [ $i -le 5000 ]; do echo "line $i"; i=$((i+1)); [ $((i % 50)) = 0 ] && usleep 10000; done; sleep 1`
	id := shContainer(t, socket, podID, podCfg, "rotating", script)
	path := inspectContainer(t, socket, id).Status.LogPath
	time.Sleep(500 * time.Millisecond)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	client := criClient(t, socket)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	waitExited(t, socket, id, 2*time.Minute)
	before := readCRILog(t, path+".1")
	after := readCRILog(t, path)
	if len(before) == 0 || len(after) == 0 {
		t.Fatalf("rotated file has %d lines, new file %d: both should have some", len(before), len(after))
	}
	lines := assemble(append(before, after...), "stdout")
	numbered(t, "rotated + new file", lines, "line ", 5000)
	if len(lines) != 5000 {
		t.Fatalf("%d lines, want 5000", len(lines))
	}

	// Reopening an exited container's log is refused, naming why.
	_, err := client.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: id})
	if err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("ReopenContainerLog on an exited container: %v", err)
	}
	_, err = client.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: "0123"})
	if err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("ReopenContainerLog on an unknown container: %v", err)
	}
}

func TestLogsFullDiskIsReportedNotFatal(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	podID, podCfg, logDir := logPod(t, socket, "logs-full-disk")
	// The log directory is a 64 KiB tmpfs: the container writes more.
	sh(t, "mount", "-t", "tmpfs", "-o", "size=64k", "rktlet-e2e-full", logDir)
	t.Cleanup(func() { _ = exec.Command("umount", "-l", logDir).Run() })
	script := `i=1; while [ $i -le 20000 ]; do echo "line $i of a log that does not fit"; i=$((i+1)); done; sleep 2`
	id := shContainer(t, socket, podID, podCfg, "filler", script)
	c := waitExited(t, socket, id, 2*time.Minute)
	if c.Status.ExitCode != 0 {
		t.Fatalf("the container exited %d: a full log disk must not break it", c.Status.ExitCode)
	}
	if !strings.Contains(c.Status.Message, "no space left on device") || !strings.Contains(c.Status.Message, "log lines could not be written") {
		t.Fatalf("status message %q does not report the full disk", c.Status.Message)
	}
	// What was written is well formed: whole CRI lines only.
	lines := readCRILog(t, c.Status.LogPath)
	if len(lines) == 0 {
		t.Fatal("nothing was written before the disk filled up")
	}
	// rktlet still serves and the pod still works.
	id2 := shContainer(t, socket, podID, podCfg, "after", "echo still here")
	if c := waitExited(t, socket, id2, time.Minute); c.Status.ExitCode != 0 {
		t.Fatalf("a container after the full disk exited %d", c.Status.ExitCode)
	}
}

// TestLogsSurvivePodStopRightAfterWriting: a container writes a burst and
// the pod is stopped and removed at once; the file has every line.
func TestLogsSurvivePodStopRightAfterWriting(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	podID, podCfg, logDir := logPod(t, socket, "logs-pod-stop")
	id := shContainer(t, socket, podID, podCfg, "burst", `i=1; while [ $i -le 5000 ]; do echo "line $i"; i=$((i+1)); done; sleep 3600`)
	// The burst takes well under a second; stop the pod while its lines
	// are still on their way through iottymux and the journal.
	time.Sleep(700 * time.Millisecond)
	if _, err := crictl(t, socket, "stopp", podID); err != nil {
		t.Fatal(err)
	}
	if _, err := crictl(t, socket, "rmp", podID); err != nil {
		t.Fatal(err)
	}
	lines := assemble(readCRILog(t, filepath.Join(logDir, "burst.log")), "stdout")
	numbered(t, "after the pod stopped", lines, "line ", 5000)
	if len(lines) != 5000 {
		t.Fatalf("%d lines, want 5000", len(lines))
	}
	_ = id
}

// TestAppStoppedWithItsPod: a pod stopped while its container runs stops
// the container with SIGTERM while the pod's journal still takes its
// output, so what the container writes as it leaves reaches its log and its
// own exit code is reported. (The app and its I/O multiplexer used to be
// left to the pod's final kill, which ended journald at the same time: the
// app was reported as exit 1, not its own 7, and the stop took over 3 s
// while the multiplexer retried its journal writes.) The container takes a
// second to leave, so that the halt's other jobs are done long before it
// is: its reaper, unordered, recorded 0 while it was leaving, or found the
// pod's systemd gone and recorded nothing.
func TestAppStoppedWithItsPod(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	podID, podCfg, logDir := logPod(t, socket, "logs-app-stopped-with-pod")
	id := shContainer(t, socket, podID, podCfg, "leaver", `trap 'echo "term, leaving"; sleep 1; exit 7' TERM; echo ready; while :; do sleep 0.1; done`)
	logPath := filepath.Join(logDir, "leaver.log")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "ready") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container never wrote ready")
		}
	}
	if _, err := crictl(t, socket, "stopp", podID); err != nil {
		t.Fatal(err)
	}
	c := inspectContainer(t, socket, id)
	if c.Status.State != "CONTAINER_EXITED" || c.Status.ExitCode != 7 {
		t.Errorf("after its pod stopped: %s exit %d, want CONTAINER_EXITED exit 7 (its own)", c.Status.State, c.Status.ExitCode)
	}
	if _, err := crictl(t, socket, "rmp", podID); err != nil {
		t.Fatal(err)
	}
	lines := assemble(readCRILog(t, logPath), "stdout")
	if !slices.ContainsFunc(lines, func(l assembled) bool { return l.msg == "term, leaving" }) {
		t.Fatalf("the container's last line is not in its log: %+v", lines)
	}
}
