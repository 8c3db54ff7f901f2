//go:build e2e

package kubelet

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const busybox = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

type m = map[string]any

func container(name string, script string) m {
	return m{"name": name, "image": busybox, "imagePullPolicy": "IfNotPresent", "command": []string{"sh", "-c", script}}
}

func execProbe(period int, cmd ...string) m {
	return m{"exec": m{"command": cmd}, "periodSeconds": period, "timeoutSeconds": 5}
}

func podSpec(name string, spec m) m {
	return m{"metadata": m{"name": name}, "spec": spec}
}

// TestKubelet runs the whole suite against one kubelet: the restart of
// rktlet first, on its own, then the pod tests side by side, then the check
// of the kubelet's log.
func TestKubelet(t *testing.T) {
	start := logCursor(t)
	k := startKubelet(t)
	t.Run("RktletKilledAndRestarted", func(t *testing.T) { testRktletRestart(t, k) })
	afterRestart := logCursor(t)
	t.Run("Pods", func(t *testing.T) {
		for name, test := range map[string]func(*testing.T, *kubelet){
			"LimitsLogsRunStats":          testLimitsLogsRunStats,
			"InitSharedVolumeHooksProbes": testLifecycle,
			"LivenessRestart":             testLivenessRestart,
			"RestartPolicyOnFailure":      testOnFailure,
			"DeleteWithinGracePeriod":     testDelete,
			"TenContainers":               testTenContainers,
			"LogRotation":                 testLogRotation,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				test(t, k)
			})
		}
	})
	t.Run("NoRuntimeErrorsInTheKubeletLog", func(t *testing.T) {
		all, later := runtimeErrors(t, start), runtimeErrors(t, afterRestart)
		// While rktlet was down (the restart test) the kubelet could not
		// reach it.
		down := regexp.MustCompile(`connection refused|code = Unavailable|error reading from server: EOF|transport is closing`)
		// A pod's manifest removed: the kubelet cancels the pod's sync in
		// flight (its node status setters' Version call among it), its
		// probes meet stopped containers, and it asks after containers it
		// just removed itself.
		teardown := regexp.MustCompile(`code = NotFound|the container has exited|is CONTAINER_EXITED, not running`)
		canceled := regexp.MustCompile(`"Version from runtime service failed" err="rpc error: code = Canceled desc = context canceled"`)
		// The kubelet removes a crashing container's earlier attempts while
		// its relist, which listed them a moment before, still asks after
		// them: NotFound for a container it had removed itself.
		notFound := regexp.MustCompile(`code = NotFound desc = container \\"([0-9a-f]{64})\\"`)
		log := kubeletLog(t, start)
		removedByKubelet := func(line string) bool {
			m := notFound.FindStringSubmatch(line)
			return m != nil && strings.Contains(log, `"RemoveContainer" containerID="`+m[1]+`"`)
		}
		for i, line := range all {
			switch {
			case i < len(all)-len(later) && down.MatchString(line):
			case teardown.MatchString(line) && k.aboutDeleted(line):
			case removedByKubelet(line):
			case canceled.MatchString(line):
			default:
				t.Errorf("runtime error: %s", line)
			}
		}
	})
}

// 1. Limits, the kubelet's /containerLogs, /run and /stats/summary.
func testLimitsLogsRunStats(t *testing.T, k *kubelet) {
	c := container("main", `i=0; while true; do echo line-$i; i=$((i+1)); sleep 1; done`)
	c["resources"] = m{
		"requests": m{"cpu": "100m", "memory": "32Mi"},
		"limits":   m{"cpu": "200m", "memory": "64Mi"},
	}
	name := k.apply(t, podSpec("limits", m{"containers": []m{c}}))
	p := k.waitPod(t, name, 120*time.Second, "Ready", (*pod).Ready)
	id := strings.TrimPrefix(p.Container("main").ContainerID, "rktlet://")

	// The limits the kubelet sent are the ones in force.
	var inspect struct {
		Status struct {
			Resources struct {
				Linux struct {
					MemoryLimitInBytes string `json:"memoryLimitInBytes"`
					CPUQuota           string `json:"cpuQuota"`
					CPUPeriod          string `json:"cpuPeriod"`
				} `json:"linux"`
			} `json:"resources"`
		} `json:"status"`
		Info struct {
			CgroupsV1 map[string]string `json:"cgroupsV1"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(crictl(t, "inspect", "-o", "json", id)), &inspect); err != nil {
		t.Fatal(err)
	}
	lin := inspect.Status.Resources.Linux
	if lin.MemoryLimitInBytes != "67108864" || lin.CPUQuota != "20000" || lin.CPUPeriod != "100000" {
		t.Errorf("ContainerStatus resources = %+v, want 64 MiB and 20000/100000", lin)
	}
	if dir := inspect.Info.CgroupsV1["memory"]; dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes")); err != nil || strings.TrimSpace(string(b)) != "67108864" {
			t.Errorf("memory.limit_in_bytes in %s = %q (%v), want 67108864", dir, b, err)
		}
	}
	if dir := inspect.Info.CgroupsV1["cpu"]; dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us")); err != nil || strings.TrimSpace(string(b)) != "20000" {
			t.Errorf("cpu.cfs_quota_us in %s = %q (%v), want 20000", dir, b, err)
		}
	}

	waitFor(t, 30*time.Second, "the container's lines in /containerLogs", func() bool {
		logs := k.containerLogs(t, name, "main", false)
		return strings.Contains(logs, "line-0\n") && strings.Contains(logs, "line-1\n")
	})
	out, err := k.run(t, name, "main", "echo", "hello", "from", "run")
	if err != nil || out != "hello from run\n" {
		t.Errorf("/run: %q, %v", out, err)
	}

	var last string
	waitFor(t, 90*time.Second, "non-zero CPU and memory of the container in /stats/summary", func() bool {
		pods, err := k.Summary()
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range pods {
			if sp.PodRef.Name != k.FullName(name) {
				continue
			}
			b, _ := json.Marshal(sp)
			last = string(b)
			for _, c := range sp.Containers {
				if c.Name == "main" && c.Measured() {
					return true
				}
			}
		}
		return false
	}, func() string { return last })
}

// 2. An init container, two containers sharing an emptyDir, a postStart
// hook, readiness and liveness probes: Ready with 0 restarts for 60 s.
func testLifecycle(t *testing.T, k *kubelet) {
	mount := []m{{"name": "work", "mountPath": "/work"}}
	initC := container("init", `echo init-done >/work/init`)
	initC["volumeMounts"] = mount
	writer := container("writer", `echo shared >/work/from-writer; exec sleep 3600`)
	writer["volumeMounts"] = mount
	writer["lifecycle"] = m{"postStart": m{"exec": m{"command": []string{"sh", "-c", "echo poststart >/work/poststart"}}}}
	writer["readinessProbe"] = execProbe(2, "cat", "/work/from-writer")
	writer["livenessProbe"] = execProbe(3, "test", "-f", "/work/init")
	reader := container("reader", `exec sleep 3600`)
	reader["volumeMounts"] = mount
	reader["readinessProbe"] = execProbe(2, "test", "-f", "/work/poststart")
	reader["livenessProbe"] = execProbe(3, "true")
	name := k.apply(t, podSpec("lifecycle", m{
		"initContainers": []m{initC},
		"containers":     []m{writer, reader},
		"volumes":        []m{{"name": "work", "emptyDir": m{}}},
	}))
	k.waitPod(t, name, 120*time.Second, "Ready", (*pod).Ready)
	for file, want := range map[string]string{"init": "init-done\n", "from-writer": "shared\n", "poststart": "poststart\n"} {
		if out, err := k.run(t, name, "reader", "cat", "/work/"+file); err != nil || out != want {
			t.Errorf("the reader's /work/%s: %q, %v; want %q", file, out, err, want)
		}
	}
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Second) {
		p := k.pod(t, name)
		if p == nil || !p.Ready() {
			t.Fatalf("the pod is no longer Ready: %v", p)
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount != 0 {
				t.Fatalf("container %s restarted: %v", c.Name, p)
			}
		}
	}
}

// 3. A failing liveness probe restarts the container; the earlier
// attempt's log stays.
func testLivenessRestart(t *testing.T, k *kubelet) {
	c := container("probed", `echo started; touch /tmp/healthy; sleep 4; rm /tmp/healthy; exec sleep 3600`)
	c["livenessProbe"] = m{"exec": m{"command": []string{"cat", "/tmp/healthy"}}, "initialDelaySeconds": 1, "periodSeconds": 2, "failureThreshold": 1}
	name := k.apply(t, podSpec("liveness", m{"containers": []m{c}, "terminationGracePeriodSeconds": 2}))
	p := k.waitPod(t, name, 120*time.Second, "restarted by its liveness probe", func(p *pod) bool {
		s := p.Container("probed")
		return s != nil && s.RestartCount >= 1 && s.State.Running != nil
	})
	if prev := k.containerLogs(t, name, "probed", true); !strings.Contains(prev, "started\n") {
		t.Errorf("the previous attempt's log through the kubelet = %q", prev)
	}
	dir := filepath.Join(k.PodLogs, fmt.Sprintf("%s_%s_%s", namespace, k.FullName(name), p.Metadata.UID), "probed")
	for _, f := range []string{"0.log", "1.log"} {
		// Running says the new attempt started, not that its first line
		// has gone through the pod's journal into its file yet: that
		// follows within a few hundred milliseconds, as with any runtime.
		var b []byte
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			b, err = os.ReadFile(filepath.Join(dir, f))
			if (err == nil && strings.Contains(string(b), "started")) || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || !strings.Contains(string(b), "started") {
			t.Errorf("log file %s of attempt %s: %q, %v", dir, f, b, err)
		}
	}
}

// 4. Restart policy OnFailure: exit 1 is restarted with back-off, exit 0
// is not.
func testOnFailure(t *testing.T, k *kubelet) {
	name := k.apply(t, podSpec("onfailure", m{
		"restartPolicy": "OnFailure",
		"containers":    []m{container("fails", `echo failing; exit 1`), container("succeeds", `echo done; exit 0`)},
	}))
	backOff := false
	p := k.waitPod(t, name, 150*time.Second, "restarted twice", func(p *pod) bool {
		s := p.Container("fails")
		if s != nil && s.State.Waiting != nil && s.State.Waiting.Reason == "CrashLoopBackOff" {
			backOff = true
		}
		return s != nil && s.RestartCount >= 2
	})
	if !backOff {
		t.Errorf("the failing container was never in CrashLoopBackOff: %v", p)
	}
	if term := p.Container("fails").LastState.Terminated; term == nil || term.ExitCode != 1 {
		t.Errorf("the failing container's last state: %v", p)
	}
	s := p.Container("succeeds")
	if s == nil || s.RestartCount != 0 || s.State.Terminated == nil || s.State.Terminated.ExitCode != 0 || s.State.Terminated.Reason != "Completed" {
		t.Errorf("the container that exits 0: %+v", s)
	}
}

// 5. Deleting the manifest tears the pod down (its container exits on the
// TERM at once), well within what the kubelet allows, and nothing of it is
// left once the kubelet removed it. The bound is a liveness check, not a
// speed target (those are benchmarks): the kubelet's file check period (5 s)
// plus the grace period plus 10 s, far below the 30 s default grace or
// systemd's 90 s stop timeout that a lost signal or a stuck stop would
// take. The time is logged; on a quiet machine it is about 4 s, with the
// other kubelet tests running alongside it has taken more than 7.
func testDelete(t *testing.T, k *kubelet) {
	const grace, fileCheck = 5, 5
	c := container("sleeper", `trap 'echo term; exit 0' TERM; while true; do sleep 0.2; done`)
	name := k.apply(t, podSpec("deleted", m{"containers": []m{c}, "terminationGracePeriodSeconds": grace}))
	p := k.waitPod(t, name, 120*time.Second, "Ready", (*pod).Ready)
	ids := strings.Fields(crictl(t, "pods", "-q", "--name", k.FullName(name), "--state", "ready"))
	if len(ids) != 1 {
		t.Fatalf("sandboxes of %s: %v", name, ids)
	}
	id := ids[0]
	var ip string
	if len(p.Status.PodIPs) > 0 {
		ip = p.Status.PodIPs[0].IP
	}
	unit := "rktlet-pod-" + id + ".service"

	deleted := time.Now()
	k.deleteManifest(t, name)
	ipFiles := func() []string {
		if ip == "" {
			return nil
		}
		matches, _ := filepath.Glob(filepath.Join(env(t, "CNI_IPAM_DIR"), "*", ip))
		return matches
	}
	var left string
	waitFor(t, (fileCheck+grace+10)*time.Second, "torn down (unit stopped, netns removed, IP released)", func() bool {
		out, _ := runErr("systemctl", "is-active", unit)
		switch st := strings.TrimSpace(out); {
		case st != "inactive" && st != "failed" && st != "unknown" && st != "":
			left = "unit " + st
		case !isNotExist("/run/netns/rktlet-" + id):
			left = "netns"
		case len(ipFiles()) > 0:
			left = fmt.Sprintf("IP %s: %v", ip, ipFiles())
		default:
			return true
		}
		return false
	}, func() string { return "left: " + left })
	t.Logf("pod torn down %v after its manifest went", time.Since(deleted).Round(10*time.Millisecond))
	// The kubelet removes a deleted pod's sandbox at its next container
	// GC, once a minute.
	waitFor(t, 150*time.Second, "the sandbox removed by the kubelet", func() bool {
		return len(strings.Fields(crictl(t, "pods", "-q", "--id", id))) == 0
	})
	if _, err := os.Stat(filepath.Join(env(t, "RKTLET_STATE_DIR"), "sandboxes", id+".json")); !os.IsNotExist(err) {
		t.Errorf("the sandbox's record is still there (%v)", err)
	}
	if out, _ := runErr("systemctl", "list-units", "--all", "--no-legend", "rktlet-pod-"+id+"*"); strings.TrimSpace(out) != "" {
		t.Errorf("units left: %s", out)
	}
	if matches, _ := filepath.Glob("/sys/fs/cgroup/*/rktlet-pod-" + id + "*"); len(matches) > 0 {
		t.Errorf("cgroups left: %v", matches)
	}
	if matches, _ := filepath.Glob("/sys/fs/cgroup/*/*/rktlet-pod-" + id + "*"); len(matches) > 0 {
		t.Errorf("cgroups left: %v", matches)
	}
}

// 6. rktlet SIGKILLed and restarted under running pods: the same
// containers, no restart counted, Ready again within 10 s.
func testRktletRestart(t *testing.T, k *kubelet) {
	a := container("a", `exec sleep 3600`)
	a["readinessProbe"] = execProbe(2, "true")
	b := container("b", `exec sleep 3600`)
	b["readinessProbe"] = execProbe(2, "true")
	name := k.apply(t, podSpec("survivor", m{"containers": []m{a, b}}))
	before := k.waitPod(t, name, 120*time.Second, "Ready", (*pod).Ready)

	pid := strings.TrimSpace(run(t, "systemctl", "show", "-p", "MainPID", "--value", "rktlet.service"))
	run(t, "systemctl", "kill", "--signal=SIGKILL", "--kill-whom=main", "rktlet.service")
	var recovered time.Time
	waitFor(t, 60*time.Second, "rktlet restarted and recovered", func() bool {
		now := strings.TrimSpace(run(t, "systemctl", "show", "-p", "MainPID", "--value", "rktlet.service"))
		if now == "0" || now == pid {
			return false
		}
		out, err := runErr(env(t, "CRICTL"), "--runtime-endpoint", "unix://"+env(t, "RKTLET_SOCKET"), "--timeout", "5s", "info", "-o", "go-template",
			"--template", `{{range .status.conditions}}{{if eq .type "RuntimeReady"}}{{.status}}{{end}}{{end}}`)
		if err == nil && strings.TrimSpace(out) == "true" {
			recovered = time.Now()
			return true
		}
		return false
	})
	after := k.waitPod(t, name, 10*time.Second, "Ready within 10 s of rktlet's recovery", (*pod).Ready)
	t.Logf("Ready %v after rktlet recovered", time.Since(recovered).Round(10*time.Millisecond))
	// And so it stays, with the same containers, for a few PLEG relists.
	for end := time.Now().Add(15 * time.Second); ; time.Sleep(time.Second) {
		for _, c := range before.Status.ContainerStatuses {
			now := after.Container(c.Name)
			if now == nil || now.ContainerID != c.ContainerID || now.RestartCount != c.RestartCount {
				t.Fatalf("container %s changed: before %+v, after %+v", c.Name, c, now)
			}
		}
		if !after.Ready() {
			t.Fatalf("no longer Ready: %v", after)
		}
		if time.Now().After(end) {
			break
		}
		after = k.pod(t, name)
	}
}

// 7. Ten containers in one pod.
func testTenContainers(t *testing.T, k *kubelet) {
	var cs []m
	for i := 0; i < 10; i++ {
		c := container(fmt.Sprintf("c%d", i), `exec sleep 3600`)
		c["readinessProbe"] = execProbe(5, "true")
		cs = append(cs, c)
	}
	name := k.apply(t, podSpec("ten", m{"containers": cs}))
	p := k.waitPod(t, name, 240*time.Second, "Ready", (*pod).Ready)
	if len(p.Status.ContainerStatuses) != 10 {
		t.Fatalf("container statuses: %v", p)
	}
}

func isNotExist(path string) bool {
	_, err := os.Lstat(path)
	return os.IsNotExist(err)
}

// The kubelet rotates a log past containerLogMaxSize (1 MiB here): it
// renames the file, asks ReopenContainerLog for a new one, and the lines
// go on in the new file.
func testLogRotation(t *testing.T, k *kubelet) {
	c := container("chatty", `i=0; while true; do printf 'line-%07d %0200d\n' $i 0; i=$((i+1)); [ $((i % 500)) = 0 ] && sleep 1; done`)
	name := k.apply(t, podSpec("rotation", m{"containers": []m{c}}))
	p := k.waitPod(t, name, 120*time.Second, "Running", func(p *pod) bool {
		s := p.Container("chatty")
		return s != nil && s.State.Running != nil
	})
	dir := filepath.Join(k.PodLogs, fmt.Sprintf("%s_%s_%s", namespace, k.FullName(name), p.Metadata.UID), "chatty")
	var rotated []string
	waitFor(t, 90*time.Second, "a rotated log file", func() bool {
		rotated, _ = filepath.Glob(filepath.Join(dir, "0.log.*"))
		return len(rotated) > 0
	}, func() string {
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return fmt.Sprintf("files: %v", names)
	})
	last := regexp.MustCompile(`line-([0-9]{7})`)
	lastIn := func(path string) string {
		b, _ := os.ReadFile(path)
		all := last.FindAllStringSubmatch(string(b), -1)
		if len(all) == 0 {
			return ""
		}
		return all[len(all)-1][1]
	}
	// The newest rotated file is the one without a compression suffix.
	var plain string
	for _, r := range rotated {
		if !strings.HasSuffix(r, ".gz") {
			plain = r
		}
	}
	if plain == "" {
		t.Fatalf("no uncompressed rotated file: %v", rotated)
	}
	before := lastIn(plain)
	waitFor(t, 30*time.Second, "lines after the rotation in the new 0.log", func() bool {
		now := lastIn(filepath.Join(dir, "0.log"))
		return now != "" && now > before
	})
	if logs := k.containerLogs(t, name, "chatty", false); !last.MatchString(logs) {
		t.Errorf("/containerLogs after the rotation: %.200q", logs)
	}
}

// waitFor polls cond until it holds, or fails naming what it waited for.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			extra := ""
			for _, d := range detail {
				extra += "; " + d()
			}
			t.Fatalf("not %s within %v%s", what, timeout, extra)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
