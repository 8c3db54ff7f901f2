package rktlet

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rktlet/rktlet/cli"
)

// rktProbe knows the version of the rkt binary. It runs `rkt version` once
// per binary: again only when the file at the path changed, so Version and
// Status do not spawn rkt on every call.
type rktProbe struct {
	path string
	rkt  rktRunner

	mu      sync.Mutex
	seen    fileID
	version cli.Version
}

type fileID struct {
	size  int64
	mtime time.Time
	mode  os.FileMode
}

func newRktProbe(path string, rkt rktRunner) *rktProbe {
	return &rktProbe{path: path, rkt: rkt}
}

// Version returns the rkt version, or why the binary is not usable.
func (p *rktProbe) Version(ctx context.Context) (cli.Version, error) {
	fi, err := os.Stat(p.path)
	if err != nil {
		return cli.Version{}, fmt.Errorf("rkt binary %s: %w", p.path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return cli.Version{}, fmt.Errorf("rkt binary %s is not an executable file", p.path)
	}
	id := fileID{size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode()}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.version.Rkt != "" && id == p.seen {
		return p.version, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := p.rkt.Version(ctx)
	if err != nil {
		// A failure is not cached: the next call tries again.
		return cli.Version{}, fmt.Errorf("rkt binary %s does not run: %w", p.path, err)
	}
	p.seen, p.version = id, v
	return v, nil
}
