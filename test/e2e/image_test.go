//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type inspectImage struct {
	Status struct {
		ID          string   `json:"id"`
		RepoTags    []string `json:"repoTags"`
		RepoDigests []string `json:"repoDigests"`
		Size        string   `json:"size"`
		UID         *struct {
			Value string `json:"value"`
		} `json:"uid"`
		Username string `json:"username"`
	} `json:"status"`
	Info map[string]any `json:"info"`
}

func inspecti(t *testing.T, socket, ref string) (inspectImage, error) {
	t.Helper()
	out, err := crictl(t, socket, "inspecti", "-o", "json", ref)
	if err != nil {
		return inspectImage{}, err
	}
	var i inspectImage
	if err := json.Unmarshal([]byte(out), &i); err != nil {
		t.Fatalf("inspecti output %q: %v", out, err)
	}
	return i, nil
}

func TestImagePullListInspectRemove(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	const ref = "registry.k8s.io/e2e-test-images/nonewprivs:1.3"
	_, _ = crictl(t, socket, "rmi", ref)
	if _, err := crictl(t, socket, "pull", ref); err != nil {
		t.Fatal(err)
	}
	out, err := crictl(t, socket, "images")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "registry.k8s.io/e2e-test-images/nonewprivs") || !strings.Contains(out, "1.3") {
		t.Fatalf("crictl images does not list %s:\n%s", ref, out)
	}
	img, err := inspecti(t, socket, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(img.Status.ID, "sha256:") || len(img.Status.RepoTags) != 1 || img.Status.RepoTags[0] != ref ||
		len(img.Status.RepoDigests) != 1 || !strings.HasPrefix(img.Status.RepoDigests[0], "registry.k8s.io/e2e-test-images/nonewprivs@sha256:") ||
		img.Status.Size == "" || img.Status.Size == "0" {
		t.Fatalf("inspecti %+v", img.Status)
	}
	if acis, _ := img.Info["acis"].([]any); len(acis) != 1 {
		t.Fatalf("verbose info %v lacks the rkt image", img.Info)
	}
	// By ID and by digest, the same image.
	for _, name := range []string{img.Status.ID, img.Status.RepoDigests[0]} {
		if other, err := inspecti(t, socket, name); err != nil || other.Status.ID != img.Status.ID {
			t.Fatalf("inspecti %s: %+v %v", name, other.Status, err)
		}
	}
	if _, err := crictl(t, socket, "rmi", ref); err != nil {
		t.Fatal(err)
	}
	if out, _ := crictl(t, socket, "images"); strings.Contains(out, "nonewprivs") {
		t.Fatalf("image still listed after rmi:\n%s", out)
	}
	if _, err := crictl(t, socket, "rmi", ref); err == nil {
		// crictl itself says "no such image" before asking; the runtime's
		// answer to an unknown image is checked by critest.
		t.Log("crictl rmi of a removed image succeeded")
	}
}

func TestImageFsInfo(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	if _, err := crictl(t, socket, "pull", "registry.k8s.io/e2e-test-images/busybox:1.29-2"); err != nil {
		t.Fatal(err)
	}
	out, err := crictl(t, socket, "imagefsinfo", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Status struct {
			ImageFilesystems []struct {
				FsID       struct{ Mountpoint string } `json:"fsId"`
				UsedBytes  struct{ Value string }      `json:"usedBytes"`
				InodesUsed struct{ Value string }      `json:"inodesUsed"`
			} `json:"imageFilesystems"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	fs := info.Status.ImageFilesystems
	if len(fs) != 1 || fs[0].FsID.Mountpoint == "" || fs[0].UsedBytes.Value == "0" || fs[0].InodesUsed.Value == "0" {
		t.Fatalf("imagefsinfo %s", out)
	}
}

func TestPullWithCredentials(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	const ref = "127.0.0.1:5001/private/busybox:1.29-2"
	_, _ = crictl(t, socket, "rmi", ref)
	_, err := crictl(t, socket, "pull", ref)
	if err == nil || !strings.Contains(err.Error(), "PermissionDenied") || !strings.Contains(err.Error(), "http://127.0.0.1:5001") {
		t.Fatalf("pull without credentials: %v; want PermissionDenied naming the endpoint", err)
	}
	if _, err := crictl(t, socket, "pull", "--creds", "testuser:wrong-password", ref); err == nil {
		t.Fatal("pull with a wrong password succeeded")
	}
	if _, err := crictl(t, socket, "pull", "--creds", "testuser:testpassword", ref); err != nil {
		t.Fatal(err)
	}
	if img, err := inspecti(t, socket, ref); err != nil || len(img.Status.RepoTags) != 1 {
		t.Fatalf("after the pull: %+v %v", img.Status, err)
	}
	// The per-pull auth config is gone, and the password is in no log.
	if entries, _ := os.ReadDir(filepath.Join(env(t, "RKTLET_STATE_DIR"), "tmp")); len(entries) != 0 {
		t.Fatalf("auth config left behind: %v", entries)
	}
	log, _ := exec.Command("journalctl", "-u", "rktlet", "--no-pager", "-o", "cat").Output()
	if strings.Contains(string(log), "testpassword") {
		t.Fatal("the password is in rktlet's log")
	}
	if _, err := crictl(t, socket, "rmi", ref); err != nil {
		t.Fatal(err)
	}
}

func TestPullBadInput(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	_, err := crictl(t, socket, "pull", "Not A/Valid:Ref")
	if err == nil || !strings.Contains(err.Error(), "InvalidArgument") {
		t.Fatalf("malformed reference: %v, want InvalidArgument", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	_, err = crictl(t, socket, "pull", closed+"/nothing/here:1")
	if err == nil || !strings.Contains(err.Error(), "http://"+closed) {
		t.Fatalf("unreachable registry: %v, want an error naming http://%s", err, closed)
	}
	_, err = crictl(t, socket, "pull", "registry.k8s.io/e2e-test-images/no-such-image:1")
	if err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("missing image: %v, want NotFound", err)
	}
}

// slowRegistry is a proxy in front of the test bed's registry that holds
// back every blob rkt asks for (rktlet's own resolution passes), so a test
// can kill rktlet while rkt is fetching.
type slowRegistry struct {
	addr     string
	fetching chan struct{}
	once     sync.Once
	release  chan struct{}
}

func startSlowRegistry(t *testing.T) *slowRegistry {
	t.Helper()
	target, _ := url.Parse("http://" + env(t, "TESTBED_REGISTRY"))
	proxy := httputil.NewSingleHostReverseProxy(target)
	sr := &slowRegistry{fetching: make(chan struct{}), release: make(chan struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sr.addr = l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") && !strings.Contains(r.UserAgent(), "go-containerregistry") {
			sr.once.Do(func() { close(sr.fetching) })
			select {
			case <-sr.release:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() {
		close(sr.release)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return sr
}

func TestPullKilledMidwayLeavesIndexConsistent(t *testing.T) {
	dir, err := os.MkdirTemp("", "rktlet-e2e-kill-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeDataDir(dir) })
	slow := startSlowRegistry(t)
	first := startInstanceIn(t, dir, "--registry-mirrors-only", "--registry-mirror=registry.k8s.io=http://"+slow.addr)
	const ref = "registry.k8s.io/e2e-test-images/httpd:2.4.39-4"

	pullDone := make(chan error, 1)
	go func() {
		_, err := crictl(t, first.socket, "pull", ref)
		pullDone <- err
	}()
	select {
	case <-slow.fetching:
	case err := <-pullDone:
		t.Fatalf("pull ended before rkt fetched anything: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("rkt never asked for a blob")
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	first.exited <- nil
	if err := <-pullDone; err == nil {
		t.Fatal("the pull succeeded although rktlet was killed")
	}
	// rkt dies with rktlet: no fetch for this data dir may be left running.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if pids := processesMentioning(dir, "fetch"); len(pids) == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("rkt fetch still running after rktlet was killed: %v", pids)
		}
		time.Sleep(100 * time.Millisecond)
	}

	second := startInstanceIn(t, dir, "--registry-mirrors-only", "--registry-mirror=registry.k8s.io=http://"+env(t, "TESTBED_REGISTRY"))
	out, err := crictl(t, second.socket, "images", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "" {
		t.Fatalf("images after the killed pull: %q, want none", out)
	}
	list, err := exec.Command(env(t, "RKT_PATH"), "--dir="+filepath.Join(dir, "rkt"), "image", "list", "--no-legend").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(list), "httpd") {
		t.Fatalf("rkt's store kept a half-pulled image:\n%s", list)
	}
	var index map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "state", "images.json"))
	if err == nil {
		if err := json.Unmarshal(b, &index); err != nil {
			t.Fatalf("index after the kill does not parse: %v", err)
		}
		if p, ok := index["pending"].(map[string]any); ok && len(p) > 0 {
			t.Fatalf("a pending pull survived the restart: %v", p)
		}
	}
	// And the pull works now.
	if _, err := crictl(t, second.socket, "pull", ref); err != nil {
		t.Fatal(err)
	}
	if img, err := inspecti(t, second.socket, ref); err != nil || len(img.Status.RepoTags) != 1 {
		t.Fatalf("after pulling again: %+v %v", img.Status, err)
	}
}

// processesMentioning lists the PIDs whose command line contains every word.
func processesMentioning(words ...string) []string {
	entries, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join("/proc", e.Name(), "cmdline")); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		all := true
		for _, w := range words {
			if !strings.Contains(cmd, w) {
				all = false
				break
			}
		}
		if all && e.Name() != "self" && e.Name() != "thread-self" {
			pids = append(pids, e.Name()+": "+cmd)
		}
	}
	_ = syscall.Getpid
	return pids
}

func TestPullOCIImageIndex(t *testing.T) {
	socket := env(t, "RKTLET_SOCKET")
	const ref = "registry.k8s.io/rktlet-testbed/multiarch:oci"
	// Neither the index nor its amd64 image stored: rkt has to fetch.
	_, _ = crictl(t, socket, "rmi", ref)
	_, _ = crictl(t, socket, "rmi", "gcr.io/k8s-staging-cri-tools/test-image-1:latest")
	if _, err := crictl(t, socket, "pull", ref); err != nil {
		t.Fatalf("pulling an OCI image index: %v", err)
	}
	img, err := inspecti(t, socket, ref)
	if err != nil {
		t.Fatal(err)
	}
	// The linux/amd64 entry of the index is test-image-1.
	amd64, err := inspectAfterPull(t, socket, "gcr.io/k8s-staging-cri-tools/test-image-1:latest")
	if err != nil {
		t.Fatal(err)
	}
	if img.Status.ID != amd64.Status.ID {
		t.Fatalf("the index resolved to %s, want the linux/amd64 image %s", img.Status.ID, amd64.Status.ID)
	}
	// The repo digest is the index's, as the registry serves it.
	req, _ := http.NewRequest(http.MethodHead, "http://"+env(t, "TESTBED_REGISTRY")+"/v2/rktlet-testbed/multiarch/manifests/oci", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "registry.k8s.io/rktlet-testbed/multiarch@" + resp.Header.Get("Docker-Content-Digest")
	if len(img.Status.RepoDigests) != 1 || img.Status.RepoDigests[0] != want {
		t.Fatalf("repo digests %v, want [%s]", img.Status.RepoDigests, want)
	}
	if _, err := crictl(t, socket, "rmi", ref); err != nil {
		t.Fatal(err)
	}
}

func inspectAfterPull(t *testing.T, socket, ref string) (inspectImage, error) {
	t.Helper()
	if _, err := crictl(t, socket, "pull", ref); err != nil {
		return inspectImage{}, err
	}
	return inspecti(t, socket, ref)
}
