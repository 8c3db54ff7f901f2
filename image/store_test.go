package image

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/rktlet/rktlet/cli"
)

// fakeRkt is an rkt image store in memory.
type fakeRkt struct {
	mu        sync.Mutex
	images    map[string]cli.ImageManifest
	removed   []string
	fetchURLs []string
	// fetched says which manifest a fetch of url stores; nil: "sha512-fetched"
	// with no manifest.
	fetched func(url string) (aci, manifestDigest string, err error)
}

func (f *fakeRkt) Fetch(_ context.Context, url string, _ cli.FetchOptions) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetchURLs = append(f.fetchURLs, url)
	if f.fetched == nil {
		return "sha512-fetched", nil
	}
	aci, manifest, err := f.fetched(url)
	if err != nil {
		return "", err
	}
	if f.images == nil {
		f.images = map[string]cli.ImageManifest{}
	}
	f.images[aci] = dockerACI(manifest)
	return aci, nil
}

func (f *fakeRkt) ImageStoredManifest(id string) (cli.ImageManifest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.images[id]
	if !ok {
		return cli.ImageManifest{}, os.ErrNotExist
	}
	return m, nil
}

func (f *fakeRkt) ImageBlobSize(id string) (uint64, error) { return 100, nil }

func (f *fakeRkt) ImageList(context.Context) ([]cli.ImageInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []cli.ImageInfo
	for id := range f.images {
		out = append(out, cli.ImageInfo{ID: id, Size: 100})
	}
	return out, nil
}

func (f *fakeRkt) ImageRemove(_ context.Context, ids ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		delete(f.images, id)
		f.removed = append(f.removed, id)
	}
	return nil
}

func dockerACI(manifestDigest string) cli.ImageManifest {
	return cli.ImageManifest{Annotations: []cli.KeyValue{
		{Name: "appc.io/docker/registryurl", Value: "127.0.0.1:5000"},
		{Name: "appc.io/docker/manifesthash", Value: manifestDigest},
	}}
}

func TestReconcile(t *testing.T) {
	rkt := &fakeRkt{images: map[string]cli.ImageManifest{
		"sha512-stage1":      {Name: "coreos.com/rkt/stage1-host"},
		"sha512-indexed":     dockerACI("sha256:m1"),
		"sha512-interrupted": dockerACI("sha256:m2"),
		"sha512-stray":       dockerACI("sha256:m3"),
	}}
	s, err := NewStore(rkt, t.TempDir(), Registries{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.index.Record(Image{ID: idA}, "docker.io/library/a:1", "", "sha512-indexed")
	s.index.Record(Image{ID: idB}, "docker.io/library/gone:1", "", "sha512-deleted-behind-our-back")
	s.index.StartPull("sha256:m2", PendingPull{Ref: "docker.io/library/c:1", ID: "sha256:cccc", RepoDigest: "docker.io/library/c@sha256:d"})

	if err := s.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("gone:1"); err == nil {
		t.Error("an image whose ACI is gone is still listed")
	}
	// The interrupted pull never recorded the image's config: its ACI goes
	// with the stray one, and the next pull fetches it again.
	if img, err := s.Get("c:1"); err == nil {
		t.Errorf("the interrupted pull's image is listed: %+v", img)
	}
	slices.Sort(rkt.removed)
	if !slices.Equal(rkt.removed, []string{"sha512-interrupted", "sha512-stray"}) {
		t.Errorf("removed %v, want the interrupted and the stray docker ACIs", rkt.removed)
	}
	if _, ok := rkt.images["sha512-stage1"]; !ok {
		t.Error("stage1 was removed")
	}
	if len(s.index.Pending()) != 0 {
		t.Error("pending pulls left after reconcile")
	}
}

func TestRemoveTagKeepsImageWithOtherTags(t *testing.T) {
	rkt := &fakeRkt{images: map[string]cli.ImageManifest{"sha512-a": dockerACI("sha256:m1")}}
	s, _ := NewStore(rkt, t.TempDir(), Registries{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.index.Record(Image{ID: idA}, "docker.io/library/a:1", "", "sha512-a")
	s.index.Record(Image{ID: idA}, "docker.io/library/a:2", "", "")
	ctx := context.Background()
	if err := s.Remove(ctx, "a:1"); err != nil {
		t.Fatal(err)
	}
	if img, err := s.Get(idA); err != nil || !slices.Equal(img.RepoTags, []string{"docker.io/library/a:2"}) || len(rkt.removed) != 0 {
		t.Fatalf("after removing one tag: %+v %v removed=%v", img, err, rkt.removed)
	}
	if err := s.Remove(ctx, "a:2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(idA); err == nil || !slices.Equal(rkt.removed, []string{"sha512-a"}) {
		t.Fatalf("after removing the last tag: %v removed=%v", err, rkt.removed)
	}
	if err := s.Remove(ctx, "never-seen:1"); err != nil {
		t.Fatalf("removing an unknown image: %v", err)
	}
}

func TestEndpoints(t *testing.T) {
	ref, _ := ParseReference("registry.k8s.io/pause:3.9")
	ca := HostTLS{CA: "/etc/rktlet/mirror-ca.pem"}
	reg := Registries{
		Mirrors: map[string][]string{"registry.k8s.io": {"http://127.0.0.1:5000", "https://mirror.example/proxy/k8s/"}},
		Hosts:   map[string]HostTLS{"mirror.example": ca},
	}
	eps := reg.endpoints(ref)
	want := []endpoint{
		{host: "127.0.0.1:5000", insecure: true},
		{host: "mirror.example", prefix: "proxy/k8s", tls: ca},
		{host: "registry.k8s.io"},
	}
	if !slices.Equal(eps, want) {
		t.Fatalf("endpoints %v, want %v", eps, want)
	}
	if got := nameURL(ref, eps[1]); got != "docker://mirror.example/proxy/k8s/pause:3.9" {
		t.Errorf("the prefixed mirror's URL is %s", got)
	}
	if got := eps[1].String(); got != "https://mirror.example/proxy/k8s" {
		t.Errorf("the prefixed mirror is named %s", got)
	}
	if env := rktTLSEnv(eps[1]); len(env) != 1 || env[0] != `RKT_REGISTRY_TLS={"mirror.example":{"ca":"/etc/rktlet/mirror-ca.pem"}}` {
		t.Errorf("rkt's TLS environment: %q", env)
	}
	if env := rktTLSEnv(eps[0]); env != nil {
		t.Errorf("an endpoint without TLS settings gives rkt %q", env)
	}
	reg.MirrorsOnly = true
	if eps := reg.endpoints(ref); !slices.Equal(eps, want[:2]) {
		t.Fatalf("mirrors only: endpoints %v, want %v", eps, want[:2])
	}
	local, _ := ParseReference("127.0.0.1:5001/x:1")
	if eps := (Registries{MirrorsOnly: true}).endpoints(local); !eps[0].insecure {
		t.Fatal("a loopback registry should be reachable over plain HTTP")
	}
	hub, _ := ParseReference("busybox")
	hubTLS := HostTLS{SkipVerify: true}
	if eps := (Registries{Hosts: map[string]HostTLS{"docker.io": hubTLS}}).endpoints(hub); eps[0].host != "registry-1.docker.io" || eps[0].tls != hubTLS {
		t.Fatalf("docker.io endpoint %+v, want registry-1.docker.io with docker.io's TLS settings", eps[0])
	}
}

func TestWriteAuthDir(t *testing.T) {
	if _, err := writeAuthDir(t.TempDir(), "r", &Auth{IdentityToken: "tok"}); err == nil {
		t.Fatal("an identity token alone cannot be handed to rkt; want an error")
	}
	dir, err := writeAuthDir(t.TempDir(), "r:5001", &Auth{Auth: "dXNlcjpwYXNz"})
	if err != nil {
		t.Fatal(err)
	}
	if dir == "" {
		t.Fatal("no dir")
	}
}

// Credentials a killed rktlet left behind are gone once the store opens.
func TestNewStoreSweepsLeftoverCredentials(t *testing.T) {
	stateDir := t.TempDir()
	dir, err := writeAuthDir(filepath.Join(stateDir, "tmp"), "r:5001", &Auth{Username: "u", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(nil, stateDir, Registries{}, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still there: %v", dir, err)
	}
}

// Pulls share a fetch only with the same credentials.
func TestAuthFingerprint(t *testing.T) {
	a, b := &Auth{Username: "u", Password: "p"}, &Auth{Username: "u", Password: "q"}
	if a.fingerprint() == b.fingerprint() || a.fingerprint() == (*Auth)(nil).fingerprint() || (&Auth{}).fingerprint() != "" {
		t.Fatal("credentials not told apart")
	}
	if a.fingerprint() != (&Auth{Username: "u", Password: "p"}).fingerprint() {
		t.Fatal("equal credentials told apart")
	}
}
