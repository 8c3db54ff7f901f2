package image

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
)

const (
	idA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	idB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	dgA = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
)

func openTestIndex(t *testing.T) (*Index, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "images.json")
	idx, err := OpenIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	return idx, path
}

func TestIndexLookups(t *testing.T) {
	idx, path := openTestIndex(t)
	if _, err := idx.Record(Image{ID: idA, Size: 10, User: "1002"}, "docker.io/library/busybox:1.29", "docker.io/library/busybox@"+dgA, "sha512-a"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{idA, idA[7:], idA[7:19], "busybox:1.29", "docker.io/library/busybox:1.29", "busybox@" + dgA} {
		img, err := idx.Get(name)
		if err != nil || img.ID != idA {
			t.Errorf("Get(%q) = %v, %v", name, img.ID, err)
		}
	}
	for _, name := range []string{"busybox", "busybox:1.30", idB, "aaaa"} {
		if _, err := idx.Get(name); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("Get(%q): %v, want not found", name, err)
		}
	}
	// Reopened from disk, it is the same.
	again, err := OpenIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := again.Get("busybox:1.29")
	if err != nil || img.Size != 10 || img.User != "1002" || len(img.ACIs) != 1 {
		t.Fatalf("reloaded %+v, %v", img, err)
	}
}

func TestIndexTagMoves(t *testing.T) {
	idx, _ := openTestIndex(t)
	idx.Record(Image{ID: idA}, "docker.io/library/app:latest", "", "sha512-a")
	idx.Record(Image{ID: idB}, "docker.io/library/app:latest", "", "sha512-b")
	a, _ := idx.Get(idA)
	b, _ := idx.Get(idB)
	if len(a.RepoTags) != 0 || len(b.RepoTags) != 1 {
		t.Fatalf("tag did not move: a %v, b %v", a.RepoTags, b.RepoTags)
	}
}

func TestIndexUntag(t *testing.T) {
	idx, _ := openTestIndex(t)
	idx.Record(Image{ID: idA}, "docker.io/library/app:1", "", "sha512-a")
	idx.Record(Image{ID: idA}, "docker.io/library/app:2", "", "")
	img, named, err := idx.Untag("app:1")
	if err != nil || !named || len(img.RepoTags) != 1 {
		t.Fatalf("untag one of two: %+v named=%v %v", img, named, err)
	}
	_, named, err = idx.Untag("app:2")
	if err != nil || named {
		t.Fatalf("untag the last: named=%v %v", named, err)
	}
}

func TestIndexPendingSurvivesReopen(t *testing.T) {
	idx, path := openTestIndex(t)
	if err := idx.StartPull(dgA, PendingPull{Ref: "docker.io/library/app:1", ID: idA}); err != nil {
		t.Fatal(err)
	}
	again, _ := OpenIndex(path)
	if p := again.Pending(); p[dgA].Ref != "docker.io/library/app:1" {
		t.Fatalf("pending after reopen: %v", p)
	}
	again.EndPull(dgA)
	if len(again.Pending()) != 0 {
		t.Fatal("pending not forgotten")
	}
}

func TestIndexAmbiguousPrefix(t *testing.T) {
	idx, _ := openTestIndex(t)
	idA2 := "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"
	idx.Record(Image{ID: idA}, "", "", "sha512-a")
	idx.Record(Image{ID: idA2}, "", "", "sha512-a2")
	if _, err := idx.Get("aaaaaaaaaaaa"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("ambiguous prefix: %v", err)
	}
}
