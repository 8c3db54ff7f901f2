package streaming

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/rktlet/rktlet/errdefs"
)

const (
	// tokenTTL is how long a streaming URL stays valid: the kubelet or
	// client connects right after the RPC that returned it.
	tokenTTL = time.Minute
	// maxPendingTokens bounds the requests waiting for their connection,
	// and maxPendingBytes what they hold: one exec request may carry a
	// command of several MiB.
	maxPendingTokens = 1000
	maxPendingBytes  = 16 << 20
	// tokenBytes of randomness make a URL unguessable (256 bits; the
	// kubelet's streaming library uses 48).
	tokenBytes = 32
)

// tokenCache holds the streaming requests handed out and not used yet. A
// token is good for one connection within tokenTTL; it is all the URL
// carries, so no command, ID or other user data appears in it.
type tokenCache struct {
	mu      sync.Mutex
	pending map[string]pendingRequest
	bytes   int // the sizes of the pending requests
	now     func() time.Time
}

type pendingRequest struct {
	request any // *runtimeapi.ExecRequest, AttachRequest or PortForwardRequest
	size    int
	expires time.Time
}

func newTokenCache() *tokenCache {
	return &tokenCache{pending: map[string]pendingRequest{}, now: time.Now}
}

// insert stores req, of size bytes, and returns its token.
func (c *tokenCache) insert(req any, size int) (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making a streaming token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	full := func() bool { return len(c.pending) >= maxPendingTokens || c.bytes+size > maxPendingBytes }
	if full() {
		for t, p := range c.pending {
			if !now.Before(p.expires) {
				c.forget(t, p)
			}
		}
	}
	if full() {
		return "", fmt.Errorf("%d streaming requests (%d bytes) are waiting for their connection: %w", len(c.pending), c.bytes, errdefs.ErrResourceExhausted)
	}
	c.pending[token] = pendingRequest{request: req, size: size, expires: now.Add(tokenTTL)}
	c.bytes += size
	return token, nil
}

func (c *tokenCache) forget(token string, p pendingRequest) {
	delete(c.pending, token)
	c.bytes -= p.size
}

// consume returns the request of a token and forgets it; false for a token
// that is unknown, used already or expired.
func (c *tokenCache) consume(token string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pending[token]
	if !ok {
		return nil, false
	}
	c.forget(token, p)
	if !c.now().Before(p.expires) {
		return nil, false
	}
	return p.request, true
}
