//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// streamContainer starts a container from cfg (crictl's JSON) in a fresh pod
// and returns the pod and container IDs.
func streamContainer(t *testing.T, socket, name string, cfg map[string]any) (string, string) {
	t.Helper()
	podID, podCfg, _ := logPod(t, socket, name)
	cfg["metadata"] = map[string]any{"name": name}
	if cfg["image"] == nil {
		cfg["image"] = map[string]any{"image": busybox}
	}
	return podID, startContainer(t, socket, podID, podCfg, cfg)
}

func crictlCmd(t *testing.T, socket string, args ...string) *exec.Cmd {
	full := append([]string{"--runtime-endpoint", "unix://" + socket, "--image-endpoint", "unix://" + socket}, args...)
	return exec.Command(env(t, "CRICTL"), full...)
}

// transports are crictl's streaming transports: SPDY, and websockets (v5
// channels for exec and attach, SPDY tunnelled for port-forward).
var transports = []string{"spdy", "websocket"}

func forEachTransport(t *testing.T, test func(t *testing.T, transport string)) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { test(t, tr) })
	}
}

func TestStreamingExecWithCrictl(t *testing.T) { forEachTransport(t, testExecWithCrictl) }

func testExecWithCrictl(t *testing.T, transport string) {
	socket := env(t, "RKTLET_SOCKET")
	_, id := streamContainer(t, socket, "stream-exec-"+transport, map[string]any{"command": []string{"sleep", "3600"}})

	out, err := crictl(t, socket, "exec", "--transport", transport, id, "sh", "-c", "echo to-stdout; echo to-stderr >&2")
	if err != nil || strings.TrimSpace(out) != "to-stdout" {
		t.Fatalf("crictl exec: %q %v", out, err)
	}
	// The exit code travels back (crictl names it and exits 1).
	cmd := crictlCmd(t, socket, "exec", "--transport", transport, id, "sh", "-c", "exit 3")
	errOut, _ := cmd.CombinedOutput()
	if !strings.Contains(string(errOut), "command terminated with exit code 3") {
		t.Fatalf("crictl exec of exit 3: %q", errOut)
	}

	// With a terminal: crictl runs under a pty of 33 rows and 111 columns,
	// the exec'd shell sees that size, then a new one after a resize.
	cmd = crictlCmd(t, socket, "exec", "--transport", transport, "-it", id, "sh")
	ptm, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 33, Cols: 111})
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	var buf safeBuffer
	go io.Copy(&buf, ptm)
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(buf.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q from the terminal; got %q", what, buf.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(time.Second)
	ptm.Write([]byte("stty size\n"))
	waitFor("33 111")
	if err := pty.Setsize(ptm, &pty.Winsize{Rows: 44, Cols: 122}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	ptm.Write([]byte("stty size\n"))
	waitFor("44 122")
	ptm.Write([]byte("exit 0\n"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("crictl exec -it ended with %v: %q", err, buf.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("crictl exec -it did not end after exit: %q", buf.String())
	}
}

func TestStreamingAttachWithCrictl(t *testing.T) { forEachTransport(t, testAttachWithCrictl) }

func testAttachWithCrictl(t *testing.T, transport string) {
	socket := env(t, "RKTLET_SOCKET")
	_, id := streamContainer(t, socket, "stream-attach-"+transport, map[string]any{"command": []string{"/bin/sh"}, "stdin": true})
	cmd := crictlCmd(t, socket, "attach", "--transport", transport, "-i", id)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out safeBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	in.Write([]byte("echo attached-$((40+2))\n"))
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "attached-42") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("attach output %q", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Closing the input ends the attach; the container keeps running.
	in.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("crictl attach did not end when its input closed")
	}
	if c := inspectContainer(t, socket, id); c.Status.State != "CONTAINER_RUNNING" {
		t.Fatalf("the container is %s after the attach ended", c.Status.State)
	}
}

func TestStreamingPortForwardWithCrictl(t *testing.T) { forEachTransport(t, testPortForwardWithCrictl) }

func testPortForwardWithCrictl(t *testing.T, transport string) {
	socket := env(t, "RKTLET_SOCKET")
	if _, err := crictl(t, socket, "pull", "registry.k8s.io/e2e-test-images/nginx:1.14-2"); err != nil {
		t.Fatal(err)
	}
	podID, _ := streamContainer(t, socket, "stream-portforward-"+transport, map[string]any{
		"image": map[string]any{"image": "registry.k8s.io/e2e-test-images/nginx:1.14-2"},
	})
	// A free local port for crictl to listen on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := crictlCmd(t, socket, "port-forward", "--transport", transport, podID, strconv.Itoa(port)+":80")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "Welcome to nginx") {
				t.Fatalf("port-forwarded page: %q", body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port-forward to the pod's port 80: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestStreamingURLsAndTokens checks what the URLs carry and that a token
// works once, then never again (it also expires after a minute).
func TestStreamingURLsAndTokens(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	_, id := streamContainer(t, socket, "stream-tokens", map[string]any{"command": []string{"sleep", "3600"}})
	client := criClient(t, socket)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	secret := "very-secret-argument"
	resp, err := client.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"echo", secret}, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(resp.GetUrl())
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(u.Host); host != "127.0.0.1" {
		t.Errorf("streaming server on %q, want 127.0.0.1 by default", u.Host)
	}
	for _, leak := range []string{id, id[:12], secret, "echo"} {
		if strings.Contains(resp.GetUrl(), leak) {
			t.Fatalf("URL %q carries %q", resp.GetUrl(), leak)
		}
	}
	post := func(raw string) int {
		r, err := http.Post(raw, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	// Not an upgrade, so refused, but the token is spent all the same.
	if code := post(resp.GetUrl()); code == http.StatusNotFound {
		t.Fatalf("first use of a fresh token: %d", code)
	}
	if code := post(resp.GetUrl()); code != http.StatusNotFound {
		t.Fatalf("second use of a token: %d, want 404", code)
	}

	// Bad input never reaches the streaming server.
	for _, req := range []*runtimeapi.ExecRequest{
		{ContainerId: id, Stdout: true},
		{ContainerId: id, Cmd: []string{"true"}},
		{ContainerId: "0123456789", Cmd: []string{"true"}, Stdout: true},
	} {
		if _, err := client.Exec(ctx, req); err == nil {
			t.Errorf("Exec %v: no error", req)
		}
	}

	resp, err = client.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"true"}, Stdout: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(61 * time.Second)
	if code := post(resp.GetUrl()); code != http.StatusNotFound {
		t.Fatalf("a token past its minute: %d, want 404", code)
	}
}

// TestStreamingKilledClientLeavesNothing: the exec'd command goes with its
// client.
func TestStreamingKilledClientLeavesNothing(t *testing.T) {
	forEachTransport(t, testKilledClientLeavesNothing)
}

func testKilledClientLeavesNothing(t *testing.T, transport string) {
	socket := env(t, "RKTLET_SOCKET")
	_, id := streamContainer(t, socket, "stream-kill-"+transport, map[string]any{"command": []string{"sleep", "3600"}})
	cmd := crictlCmd(t, socket, "exec", "--transport", transport, id, "sleep", "4321")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(processesMentioning("sleep 4321")) < 2 { // crictl's and the container's
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the exec'd sleep never started: %v", processesMentioning("sleep 4321"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline = time.Now().Add(15 * time.Second)
	for {
		left := processesMentioning("sleep 4321")
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind after the client was killed: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// safeBuffer is a bytes.Buffer for one writer and concurrent readers.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
