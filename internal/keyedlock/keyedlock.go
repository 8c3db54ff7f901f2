// Package keyedlock serializes work by key (an ID, a name) with mutexes
// made on first use and forgotten when nobody holds or waits for them, so
// that the set does not grow with every key ever seen.
package keyedlock

import "sync"

// Locks are mutexes by key; the zero value is ready to use.
type Locks struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	sync.Mutex
	users int // holders and waiters, under Locks.mu
}

// Lock takes the key's mutex and returns its unlock.
func (k *Locks) Lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*entry{}
	}
	l := k.m[key]
	if l == nil {
		l = &entry{}
		k.m[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// Len is how many keys are in use.
func (k *Locks) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}
