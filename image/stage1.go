package image

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// stage1Importer is what Stage1 needs of rkt.
type stage1Importer interface {
	ImportACI(ctx context.Context, path string) (string, error)
	ImageBlobSize(id string) (uint64, error)
}

// Stage1 is the stage1 image every pod runs with, imported into rkt's store
// once. Given the file (`--stage1-path`), `rkt app sandbox` would import
// its tens of megabytes again for every pod, decompressing and hashing them
// before it does anything else; given the stored image's ID
// (`--stage1-hash`), it looks it up. The file is imported again when it
// changes on disk (an upgraded stage1), and when the stored image is gone
// (an operator's `rkt image rm`).
type Stage1 struct {
	rkt  stage1Importer
	path string

	mu       sync.Mutex
	id       string
	imported fileIdentity
}

// fileIdentity tells one version of a file from the next: a file replaced
// (new inode) or rewritten in place (new size or mtime) differs.
type fileIdentity struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

// NewStage1 returns the stage1 image at path; nothing is imported yet.
func NewStage1(rkt stage1Importer, path string) *Stage1 {
	return &Stage1{rkt: rkt, path: path}
}

// ID returns the stored stage1 image's ID, importing the file first if it
// was never imported, changed since, or is no longer in the store. Calls
// wait for an import in progress rather than starting their own.
func (s *Stage1) ID(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, err := identify(s.path)
	if err != nil {
		return "", fmt.Errorf("stage1 image: %w", err)
	}
	if s.id != "" && before == s.imported {
		if _, err := s.rkt.ImageBlobSize(s.id); err == nil {
			return s.id, nil
		}
	}
	id, err := s.rkt.ImportACI(ctx, s.path)
	if err != nil {
		return "", fmt.Errorf("importing stage1 image %s into rkt's store: %w", s.path, err)
	}
	// A file replaced while rkt read it is imported again next time: the
	// ID is this call's, not one to keep.
	if after, err := identify(s.path); err == nil && after == before {
		s.id, s.imported = id, before
	} else {
		s.id = ""
	}
	return id, nil
}

func identify(path string) (fileIdentity, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileIdentity{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileIdentity{}, fmt.Errorf("%s is not a regular file", path)
	}
	id := fileIdentity{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = st.Dev, st.Ino
	}
	return id, nil
}
