package rktlet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/atomicfile"
	"github.com/rktlet/rktlet/internal/keyedlock"
)

// record is an item a recordStore keeps: a sandbox or a container.
type record[T any] interface {
	key() string
	created() int64
	// persisted is what goes to disk for it.
	persisted() any
	// clone is a copy to change: replace hands it to its change function,
	// so that no published item is ever written to.
	clone() T
}

// recordStore keeps items of one kind in memory, each also written to
// dir/<id>.json. A published item is never changed: create publishes a new
// one, replace a changed copy of the current one, so a caller may read the
// item it got without a lock. Operations on one item are serialized with
// lock(id).
type recordStore[T record[T]] struct {
	dir  string
	kind string // "pod sandbox", "container": for messages

	mu    sync.RWMutex
	items map[string]T
	locks keyedlock.Locks
	names keyedlock.Locks
}

func newRecordStore[T record[T]](dir, kind string) *recordStore[T] {
	return &recordStore[T]{dir: dir, kind: kind, items: map[string]T{}}
}

// lock takes the operation lock of one ID.
func (s *recordStore[T]) lock(id string) func() { return s.locks.Lock(id) }

// lockName reserves a name (a pod's metadata, a container's name and
// attempt in its pod) for the time of a creation: a concurrent creation of
// the same name waits, then finds the first one's item.
func (s *recordStore[T]) lockName(name string) func() { return s.names.Lock(name) }

// create writes the record of an item not published yet (new, or read
// back at recovery) and publishes it.
func (s *recordStore[T]) create(item T) error { return s.write(item) }

// replace writes and publishes a copy of the current item as change made
// it, and returns that copy.
func (s *recordStore[T]) replace(id string, change func(next T)) (T, error) {
	cur, err := s.get(id)
	if err != nil {
		return cur, err
	}
	if cur.key() != id {
		var zero T
		return zero, fmt.Errorf("%s %s: replace needs the full ID", s.kind, id)
	}
	next := cur.clone()
	change(next)
	if err := s.write(next); err != nil {
		return cur, err
	}
	return next, nil
}

// write writes an item's record and publishes it in memory.
func (s *recordStore[T]) write(item T) error {
	b, err := json.MarshalIndent(item.persisted(), "", "\t")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, item.key()+".json"), b, 0o600); err != nil {
		return fmt.Errorf("writing the state of %s %s: %w", s.kind, item.key(), err)
	}
	s.publish(item)
	return nil
}

// publish puts an item in memory only (recovery, state changes).
func (s *recordStore[T]) publish(item T) {
	s.mu.Lock()
	s.items[item.key()] = item
	s.mu.Unlock()
}

// update replaces an item in memory with what change returns, if it is
// still there.
func (s *recordStore[T]) update(id string, change func(T) T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.items[id]; ok {
		s.items[id] = change(cur)
	}
}

// delete forgets an item, on disk and in memory.
func (s *recordStore[T]) delete(id string) error {
	if err := os.Remove(filepath.Join(s.dir, id+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the state of %s %s: %w", s.kind, id, err)
	}
	s.mu.Lock()
	delete(s.items, id)
	s.mu.Unlock()
	return nil
}

// get returns an item by full ID or unique ID prefix.
func (s *recordStore[T]) get(idOrPrefix string) (T, error) {
	var zero T
	if idOrPrefix == "" {
		return zero, fmt.Errorf("%s ID is empty: %w", s.kind, errdefs.ErrInvalidArgument)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if item, ok := s.items[idOrPrefix]; ok {
		return item, nil
	}
	var found T
	n := 0
	for id, item := range s.items {
		if strings.HasPrefix(id, idOrPrefix) {
			found = item
			n++
		}
	}
	switch n {
	case 0:
		return zero, fmt.Errorf("%s %q: %w", s.kind, idOrPrefix, errdefs.ErrNotFound)
	case 1:
		return found, nil
	}
	return zero, fmt.Errorf("%s ID prefix %q is ambiguous: %w", s.kind, idOrPrefix, errdefs.ErrInvalidArgument)
}

// list returns every item, oldest first.
func (s *recordStore[T]) list() []T {
	s.mu.RLock()
	out := make([]T, 0, len(s.items))
	for _, item := range s.items {
		out = append(out, item)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].created() < out[j].created() })
	return out
}

// readAll decodes every record file in the store's directory with decode.
// A file that does not decode, or names another item than its file name
// says, is moved aside to the quarantine directory (state-dir/quarantine)
// and reported in corrupt: one bad file must not keep everything else from
// being recovered, and it stays there for an operator to look at.
func (s *recordStore[T]) readAll(decode func(name string, data []byte) (T, error)) (items []T, corrupt []error, err error) {
	// A rktlet killed while saving a record left its temporary file.
	if err := atomicfile.RemoveStale(s.dir); err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(s.dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		item, err := decode(e.Name(), b)
		if err == nil && item.key() != strings.TrimSuffix(e.Name(), ".json") {
			err = fmt.Errorf("it holds the record of %q", item.key())
		}
		if err != nil {
			moved, qerr := s.quarantine(path)
			if qerr != nil {
				return nil, nil, fmt.Errorf("%s state %s is corrupt (%v) and could not be moved aside: %w", s.kind, e.Name(), err, qerr)
			}
			corrupt = append(corrupt, fmt.Errorf("%s state %s is corrupt, moved to %s: %w", s.kind, e.Name(), moved, err))
			continue
		}
		items = append(items, item)
	}
	return items, corrupt, nil
}

// quarantine moves a record file to the state dir's quarantine folder.
func (s *recordStore[T]) quarantine(path string) (string, error) {
	dir := filepath.Join(filepath.Dir(s.dir), "quarantine")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	dest := filepath.Join(dir, fmt.Sprintf("%s-%d-%s", filepath.Base(s.dir), time.Now().UnixNano(), filepath.Base(path)))
	return dest, os.Rename(path, dest)
}
