//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The bed's rktlet serves Prometheus metrics at the default address, and
// they count the RPCs it answers.
func TestMetricsCountRPCs(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	count := func() int {
		t.Helper()
		resp, err := http.Get("http://127.0.0.1:9778/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^rktlet_rpc_duration_seconds_count\{code="NotFound",method="/runtime.v1.RuntimeService/PodSandboxStatus"\} ([0-9]+)$`).FindSubmatch(b)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	before := count()
	for i := 0; i < 3; i++ {
		if _, err := crictl(t, socket, "inspectp", fmt.Sprintf("%064d", i)); err == nil {
			t.Fatal("inspectp of an unknown pod succeeded")
		}
	}
	if after := count(); after < before+3 {
		t.Fatalf("PodSandboxStatus NotFound count went from %d to %d, want +3", before, after)
	}
}

// rktlet's lines reach the journal with their priority: -p err shows the
// failed RPC the test provoked, and no info or debug line.
func TestJournalPriorities(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	id := fmt.Sprintf("%064d", time.Now().UnixNano())
	if _, err := crictl(t, socket, "inspectp", id); err == nil {
		t.Fatal("inspectp of an unknown pod succeeded")
	}
	var errs string
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("journalctl", "-u", "rktlet", "-p", "err", "--no-pager", "-o", "cat", "--since", "-2min").Output()
		errs = string(out)
		if strings.Contains(errs, id) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(errs, "RPC failed") || !strings.Contains(errs, id) {
		t.Fatalf("journalctl -u rktlet -p err lacks the failed RPC naming %s:\n%s", id, errs)
	}
	for _, line := range strings.Split(errs, "\n") {
		if strings.Contains(line, "level=INFO") || strings.Contains(line, "level=DEBUG") || strings.Contains(line, "level=WARN") {
			t.Errorf("journalctl -p err shows a line below err: %s", line)
		}
	}
	// The debug line of a successful RPC is there at its own priority.
	out, _ := exec.Command("journalctl", "-u", "rktlet", "-p", "debug..debug", "--no-pager", "-o", "cat", "-n", "20").Output()
	if !strings.Contains(string(out), "level=DEBUG") {
		t.Errorf("no debug-priority line from rktlet:\n%s", out)
	}
}
