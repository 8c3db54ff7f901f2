// Package store keeps rktlet's sandbox and container records: an in-memory
// index that is also written to the state directory, with copy-on-write
// updates, name reservation, ID-prefix lookup, label matching and the
// quarantine of records that do not read back.
package store

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

// Record is an item Records keeps: a sandbox or a container.
type Record[T any] interface {
	Key() string
	Created() int64
	// persisted is what goes to disk for it.
	Persisted() any
	// clone is a copy to change: replace hands it to its change function,
	// so that no published item is ever written to.
	Clone() T
}

// Records keeps items of one kind in memory, each also written to
// dir/<id>.json. A published item is never changed: create publishes a new
// one, replace a changed copy of the current one, so a caller may read the
// item it got without a lock. Operations on one item are serialized with
// lock(id).
type Records[T Record[T]] struct {
	dir  string
	kind string // "pod sandbox", "container": for messages

	mu    sync.RWMutex
	items map[string]T
	locks keyedlock.Locks
	names keyedlock.Locks
}

func NewRecords[T Record[T]](dir, kind string) *Records[T] {
	return &Records[T]{dir: dir, kind: kind, items: map[string]T{}}
}

// Lock takes the operation Lock of one ID.
func (s *Records[T]) Lock(id string) func() { return s.locks.Lock(id) }

// LockName reserves a name (a pod's metadata, a container's name and
// attempt in its pod) for the time of a creation: a concurrent creation of
// the same name waits, then finds the first one's item.
func (s *Records[T]) LockName(name string) func() { return s.names.Lock(name) }

// Create writes the record of an item not published yet (new, or read
// back at recovery) and publishes it.
func (s *Records[T]) Create(item T) error { return s.write(item) }

// Replace writes and publishes a copy of the current item as change made
// it, and returns that copy.
func (s *Records[T]) Replace(id string, change func(next T)) (T, error) {
	cur, err := s.Get(id)
	if err != nil {
		return cur, err
	}
	if cur.Key() != id {
		var zero T
		return zero, fmt.Errorf("%s %s: replace needs the full ID", s.kind, id)
	}
	next := cur.Clone()
	change(next)
	if err := s.write(next); err != nil {
		return cur, err
	}
	return next, nil
}

// write writes an item's record and publishes it in memory.
func (s *Records[T]) write(item T) error {
	b, err := json.MarshalIndent(item.Persisted(), "", "\t")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, item.Key()+".json"), b, 0o600); err != nil {
		return fmt.Errorf("writing the state of %s %s: %w", s.kind, item.Key(), err)
	}
	s.Publish(item)
	return nil
}

// Publish puts an item in memory only (recovery, state changes).
func (s *Records[T]) Publish(item T) {
	s.mu.Lock()
	s.items[item.Key()] = item
	s.mu.Unlock()
}

// Update replaces an item in memory with what change returns, if it is
// still there.
func (s *Records[T]) Update(id string, change func(T) T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.items[id]; ok {
		s.items[id] = change(cur)
	}
}

// Delete forgets an item, on disk and in memory.
func (s *Records[T]) Delete(id string) error {
	if err := os.Remove(filepath.Join(s.dir, id+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the state of %s %s: %w", s.kind, id, err)
	}
	s.mu.Lock()
	delete(s.items, id)
	s.mu.Unlock()
	return nil
}

// Get returns an item by full ID or unique ID prefix.
func (s *Records[T]) Get(idOrPrefix string) (T, error) {
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

// GetLocked is Get with the item's operation lock held. The item is read
// again once the lock is taken: a call it waited for may have replaced or
// deleted it. On success the caller releases the lock with unlock.
func (s *Records[T]) GetLocked(idOrPrefix string) (item T, unlock func(), err error) {
	first, err := s.Get(idOrPrefix)
	if err != nil {
		return first, nil, err
	}
	unlock = s.Lock(first.Key())
	if item, err = s.Get(first.Key()); err != nil {
		unlock()
		return item, nil, err
	}
	return item, unlock, nil
}

// List returns every item, oldest first.
func (s *Records[T]) List() []T {
	s.mu.RLock()
	out := make([]T, 0, len(s.items))
	for _, item := range s.items {
		out = append(out, item)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Created() < out[j].Created() })
	return out
}

// readAll decodes every record file in the store's directory with decode.
// A file that does not decode, or names another item than its file name
// says, is moved aside to the quarantine directory (state-dir/quarantine)
// and reported in corrupt: one bad file must not keep everything else from
// being recovered, and it stays there for an operator to look at.
func (s *Records[T]) readAll(decode func(name string, data []byte) (T, error)) (items []T, corrupt []error, err error) {
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
		if err == nil && item.Key() != strings.TrimSuffix(e.Name(), ".json") {
			err = fmt.Errorf("it holds the record of %q", item.Key())
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
func (s *Records[T]) quarantine(path string) (string, error) {
	dir := filepath.Join(filepath.Dir(s.dir), "quarantine")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	dest := filepath.Join(dir, fmt.Sprintf("%s-%d-%s", filepath.Base(s.dir), time.Now().UnixNano(), filepath.Base(path)))
	return dest, os.Rename(path, dest)
}
