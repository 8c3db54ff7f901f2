package image

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/rktlet/rktlet/errdefs"
)

// pullBed is an in-process registry and a store pulling from it through a
// fake rkt: by-digest fetches store the digest's manifest, by-name fetches
// store whatever byName says the tag pointed to when rkt read it.
type pullBed struct {
	host   string
	rkt    *fakeRkt
	store  *Store
	byName func(tag string) (manifestDigest string, err error)
}

func newPullBed(t *testing.T) *pullBed {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	b := &pullBed{host: strings.TrimPrefix(srv.URL, "http://"), rkt: &fakeRkt{}}
	b.rkt.fetched = func(url string) (string, string, error) {
		if _, dg, ok := strings.Cut(url, "@"); ok {
			return "sha512-digest-" + strings.TrimPrefix(dg, "sha256:")[:12], dg, nil
		}
		tag := url[strings.LastIndex(url, ":")+1:]
		dg, err := b.byName(tag)
		if err != nil {
			return "", "", err
		}
		return "sha512-name-" + strings.TrimPrefix(dg, "sha256:")[:12], dg, nil
	}
	store, err := NewStore(b.rkt, t.TempDir(), Registries{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	b.store = store
	return b
}

// push pushes a new random image under repo:tag and returns its manifest digest.
func (b *pullBed) push(t *testing.T, tag string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(b.host+"/app:"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	dg, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return dg.String()
}

func (b *pullBed) fetches() []string {
	b.rkt.mu.Lock()
	defer b.rkt.mu.Unlock()
	return slices.Clone(b.rkt.fetchURLs)
}

func TestPullNewTagUsesFetchByName(t *testing.T) {
	b := newPullBed(t)
	dg := b.push(t, "1")
	b.byName = func(string) (string, error) { return dg, nil }

	img, err := b.store.Pull(context.Background(), b.host+"/app:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.fetches(), []string{"docker://" + b.host + "/app:1"}; !slices.Equal(got, want) {
		t.Errorf("fetches = %q, want only the one by name %q", got, want)
	}
	if len(img.ACIs) != 1 || !strings.HasPrefix(img.ACIs[0], "sha512-name-") {
		t.Errorf("ACIs = %q, want the by-name fetch's", img.ACIs)
	}
	if want := b.host + "/app@" + dg; !slices.Contains(img.RepoDigests, want) {
		t.Errorf("RepoDigests = %q, want %q", img.RepoDigests, want)
	}
}

func TestPullTagMovedDuringFetchFetchesByDigest(t *testing.T) {
	b := newPullBed(t)
	dg := b.push(t, "1")
	// rkt read the tag after it moved on to another manifest.
	b.byName = func(string) (string, error) { return "sha256:" + strings.Repeat("e", 64), nil }

	img, err := b.store.Pull(context.Background(), b.host+"/app:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.fetches(); len(got) != 2 || got[1] != "docker://"+b.host+"/app@"+dg {
		t.Errorf("fetches = %q, want by name then by digest %s", got, dg)
	}
	if len(img.ACIs) != 1 || !strings.HasPrefix(img.ACIs[0], "sha512-digest-") {
		t.Errorf("ACIs = %q, want the by-digest fetch's", img.ACIs)
	}
	if !slices.Contains(b.rkt.removed, "sha512-name-eeeeeeeeeeee") {
		t.Errorf("the other manifest's ACI was not removed: removed = %q", b.rkt.removed)
	}
}

func TestPullKnownTagFetchesByDigestOnly(t *testing.T) {
	b := newPullBed(t)
	first := b.push(t, "1")
	b.byName = func(string) (string, error) { return first, nil }
	if _, err := b.store.Pull(context.Background(), b.host+"/app:1", nil); err != nil {
		t.Fatal(err)
	}
	second := b.push(t, "1")
	if _, err := b.store.Pull(context.Background(), b.host+"/app:1", nil); err != nil {
		t.Fatal(err)
	}
	got := b.fetches()
	if want := "docker://" + b.host + "/app@" + second; len(got) != 2 || got[1] != want {
		t.Errorf("fetches = %q, want the re-pull of a known tag to fetch %s only", got, want)
	}
}

func TestPullUnknownTagRemovesWhatTheEarlyFetchStored(t *testing.T) {
	b := newPullBed(t)
	b.push(t, "1")
	b.byName = func(string) (string, error) { return "sha256:" + strings.Repeat("a", 64), nil }

	_, err := b.store.Pull(context.Background(), b.host+"/app:missing", nil)
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("err = %v, want NotFound", err)
	}
	if !slices.Contains(b.rkt.removed, "sha512-name-aaaaaaaaaaaa") {
		t.Errorf("the early fetch's ACI was kept: removed = %q", b.rkt.removed)
	}
	if len(b.store.List()) != 0 {
		t.Errorf("index holds %v after a failed pull", b.store.List())
	}
}
