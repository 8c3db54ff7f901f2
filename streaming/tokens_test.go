package streaming

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rktlet/rktlet/errdefs"
)

func TestTokenSingleUse(t *testing.T) {
	c := newTokenCache()
	token, err := c.insert("exec", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) < 40 || strings.ContainsAny(token, "/+=") {
		t.Errorf("token %q: want 256 random bits, URL-safe", token)
	}
	if req, ok := c.consume(token); !ok || req != "exec" {
		t.Fatalf("first use: %v %v", req, ok)
	}
	if _, ok := c.consume(token); ok {
		t.Fatal("second use of a token accepted")
	}
	if _, ok := c.consume("made-up"); ok {
		t.Fatal("unknown token accepted")
	}
}

func TestTokenExpires(t *testing.T) {
	c := newTokenCache()
	now := time.Now()
	c.now = func() time.Time { return now }
	fresh, _ := c.insert("a", 10)
	old, _ := c.insert("b", 10)
	now = now.Add(tokenTTL - time.Second)
	if _, ok := c.consume(fresh); !ok {
		t.Fatal("token refused before its minute was up")
	}
	now = now.Add(time.Second)
	if _, ok := c.consume(old); ok {
		t.Fatal("token accepted after its minute")
	}
}

func TestTokenCacheFull(t *testing.T) {
	c := newTokenCache()
	now := time.Now()
	c.now = func() time.Time { return now }
	for i := 0; i < maxPendingTokens; i++ {
		if _, err := c.insert(i, 10); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.insert("one too many", 10); !errors.Is(err, errdefs.ErrResourceExhausted) {
		t.Fatalf("insert into a full cache: %v, want ResourceExhausted", err)
	}
	// Expired requests make room.
	now = now.Add(tokenTTL)
	if _, err := c.insert("after expiry", 10); err != nil {
		t.Fatal(err)
	}
}

func TestTokenCacheBoundedInBytes(t *testing.T) {
	c := newTokenCache()
	if _, err := c.insert("big", maxPendingBytes-100); err != nil {
		t.Fatal(err)
	}
	if _, err := c.insert("too much", 101); !errors.Is(err, errdefs.ErrResourceExhausted) {
		t.Fatalf("insert past the byte bound: %v, want ResourceExhausted", err)
	}
	token, err := c.insert("fits", 100)
	if err != nil {
		t.Fatal(err)
	}
	c.consume(token)
	if c.bytes != maxPendingBytes-100 {
		t.Fatalf("%d bytes pending after a use", c.bytes)
	}
}
