package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeStage1Store imports by counting, and keeps the IDs it imported until
// one is removed.
type fakeStage1Store struct {
	mu      sync.Mutex
	imports int
	stored  map[string]bool
	fail    error
	// during runs inside ImportACI, as a file changed while rkt reads it.
	during func()
}

func (f *fakeStage1Store) ImportACI(ctx context.Context, path string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	if f.during != nil {
		f.during()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	f.imports++
	id := fmt.Sprintf("sha512-%x", data)
	if f.stored == nil {
		f.stored = map[string]bool{}
	}
	f.stored[id] = true
	return id, nil
}

func (f *fakeStage1Store) ImageBlobSize(id string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stored[id] {
		return 0, os.ErrNotExist
	}
	return 1, nil
}

func (f *fakeStage1Store) importCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.imports
}

func writeStage1(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestStage1ImportedOnceUntilTheFileChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stage1-host.aci")
	writeStage1(t, path, "v1", time.Unix(1000, 0))
	fake := &fakeStage1Store{}
	s1 := NewStage1(fake, path)
	ctx := context.Background()

	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s1.ID(ctx)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != fmt.Sprintf("sha512-%x", "v1") {
			t.Fatalf("IDs %q", ids)
		}
	}
	if n := fake.importCount(); n != 1 {
		t.Fatalf("8 concurrent first calls imported %d times", n)
	}

	writeStage1(t, path, "v2", time.Unix(2000, 0))
	if id, err := s1.ID(ctx); err != nil || id != fmt.Sprintf("sha512-%x", "v2") {
		t.Fatalf("after an upgrade: %q, %v", id, err)
	}
	if id, _ := s1.ID(ctx); id != fmt.Sprintf("sha512-%x", "v2") || fake.importCount() != 2 {
		t.Fatalf("second call after the upgrade: %q, %d imports", id, fake.importCount())
	}

	// The stored image removed behind rktlet's back: imported again.
	fake.mu.Lock()
	fake.stored = nil
	fake.mu.Unlock()
	if id, err := s1.ID(ctx); err != nil || id != fmt.Sprintf("sha512-%x", "v2") || fake.importCount() != 3 {
		t.Fatalf("after rkt image rm: %q, %v, %d imports", id, err, fake.importCount())
	}
}

func TestStage1ChangedDuringImportIsNotKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stage1-host.aci")
	writeStage1(t, path, "v1", time.Unix(1000, 0))
	fake := &fakeStage1Store{}
	fake.during = func() { writeStage1(t, path, "v2", time.Unix(2000, 0)) }
	s1 := NewStage1(fake, path)
	if _, err := s1.ID(context.Background()); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	fake.during = nil
	fake.mu.Unlock()
	if id, _ := s1.ID(context.Background()); id != fmt.Sprintf("sha512-%x", "v2") || fake.importCount() != 2 {
		t.Fatalf("a file replaced during the import was trusted: %q, %d imports", id, fake.importCount())
	}
}

func TestStage1Errors(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewStage1(&fakeStage1Store{}, filepath.Join(dir, "missing.aci")).ID(context.Background()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := NewStage1(&fakeStage1Store{}, dir).ID(context.Background()); err == nil {
		t.Fatal("a directory was taken for a stage1 image")
	}
	path := filepath.Join(dir, "stage1-host.aci")
	writeStage1(t, path, "v1", time.Unix(1000, 0))
	broken := errors.New("not an ACI")
	if _, err := NewStage1(&fakeStage1Store{fail: broken}, path).ID(context.Background()); !errors.Is(err, broken) {
		t.Fatalf("import failure: %v", err)
	}
}
