package keyedlock

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Keyed locks serialize callers of one key and are forgotten once nobody
// holds or waits for them.
func TestLocksSerializeAndForget(t *testing.T) {
	var k Locks
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := k.Lock("pod-a")
			if n := inside.Add(1); n > most.Load() {
				most.Store(n)
			}
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d callers held one key at once", most.Load())
	}
	for i := 0; i < 100; i++ {
		k.Lock(string(rune('a'+i%26)) + "-key")()
	}
	if n := k.Len(); n != 0 {
		t.Fatalf("%d keys left after every unlock", n)
	}
}
