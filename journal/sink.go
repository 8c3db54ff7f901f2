package journal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rktlet/rktlet/internal/metrics"
)

// flushSize is how much a sink buffers before it writes to its file.
const flushSize = 64 * 1024

// sink is one container's CRI log file.
type sink struct {
	Container
	file    *os.File
	dev     uint64
	ino     uint64
	size    int64 // bytes in the file, buffered bytes not included
	pending []byte
	// open streams: an RKT_EOF entry closes one; with none left every
	// line of the container is in the file (once flushed).
	open    map[string]bool
	drained chan struct{}
	dropped int64
	lastErr error
}

func newSink(c Container) *sink {
	s := &sink{Container: c, open: map[string]bool{}, drained: make(chan struct{})}
	for _, st := range c.Streams {
		s.open[st] = true
	}
	if len(s.open) == 0 {
		close(s.drained)
	}
	return s
}

// openFile opens the log file for appending, creating it and its directory
// (the kubelet may have removed it) as needed. With Dir set the file and
// its directories are reached only beneath Dir, following no symlink, and a
// FIFO or device there is refused rather than waited on: rktlet runs as
// root and log paths come from requests.
func (s *sink) openFile() error {
	var f *os.File
	var err error
	if s.Dir != "" {
		// The log directory is the kubelet's, trusted as it is named; only
		// what lies below it comes from the container's config.
		if err := os.MkdirAll(s.Dir, 0o755); err != nil {
			return err
		}
		f, err = openBeneath(s.Dir, s.Path)
	} else {
		if err := os.MkdirAll(filepath.Dir(s.Path), 0o755); err != nil {
			return err
		}
		f, err = os.OpenFile(s.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NONBLOCK, 0o640)
	}
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("log file %s is not a regular file (%s)", s.Path, fi.Mode().Type())
	}
	st := fi.Sys().(*syscall.Stat_t)
	s.file, s.dev, s.ino, s.size = f, uint64(st.Dev), st.Ino, fi.Size()
	return nil
}

// beneath resolves a path component by component inside a directory fd:
// no symlink, no "..", no magic link, no mount point crossing upward.
const beneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openBeneath opens path, which must lie inside dir, for appending: its
// missing directories are made one at a time, each opened beneath the one
// before, and the file itself is opened without following a symlink and
// without blocking (O_NONBLOCK: a FIFO with no reader fails at once).
func openBeneath(dir, path string) (*os.File, error) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("log file %s is not inside the log directory %s", path, dir)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer func() { unix.Close(fd) }()
	parts := strings.Split(rel, string(filepath.Separator))
	for _, name := range parts[:len(parts)-1] {
		next, err := unix.Openat2(fd, name, &unix.OpenHow{Flags: unix.O_DIRECTORY | unix.O_PATH | unix.O_CLOEXEC, Resolve: beneath})
		if errors.Is(err, unix.ENOENT) {
			if err := unix.Mkdirat(fd, name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				return nil, &os.PathError{Op: "mkdir", Path: filepath.Join(dir, name), Err: err}
			}
			next, err = unix.Openat2(fd, name, &unix.OpenHow{Flags: unix.O_DIRECTORY | unix.O_PATH | unix.O_CLOEXEC, Resolve: beneath})
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		unix.Close(fd)
		fd = next
	}
	how := &unix.OpenHow{
		Flags:   unix.O_WRONLY | unix.O_CREAT | unix.O_APPEND | unix.O_NONBLOCK | unix.O_NOFOLLOW | unix.O_NOCTTY | unix.O_CLOEXEC,
		Mode:    0o640,
		Resolve: beneath,
	}
	file, err := unix.Openat2(fd, parts[len(parts)-1], how)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(file), path), nil
}

// resume opens the file after a restart and cuts what was written after
// the checkpoint: the journal is read again from there, so each line ends
// up in the file exactly once. A file replaced since (rotated by the
// kubelet) is left as it is.
func (s *sink) resume(m fileMark) error {
	if err := s.openFile(); err != nil {
		return err
	}
	if m.Path == s.Path && m.Dev == s.dev && m.Ino == s.ino && m.Size <= s.size {
		if err := s.file.Truncate(m.Size); err != nil {
			return err
		}
		s.size = m.Size
	}
	return nil
}

func (s *sink) mark() fileMark {
	return fileMark{Path: s.Path, Dev: s.dev, Ino: s.ino, Size: s.size}
}

func (s *sink) add(line []byte) error {
	s.pending = append(s.pending, line...)
	if len(s.pending) >= flushSize {
		return s.flush()
	}
	return nil
}

// flush writes the buffered lines. A failed write (a full disk) keeps the
// whole lines that made it, cuts a half-written one, so that the file stays
// well-formed, and drops the rest; the failure is kept for the container's
// status.
func (s *sink) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	if s.file == nil {
		if err := s.openFile(); err != nil {
			return s.drop(err)
		}
	}
	n, err := s.file.Write(s.pending)
	if err != nil {
		whole := bytes.LastIndexByte(s.pending[:n], '\n') + 1
		if whole < n {
			_ = s.file.Truncate(s.size + int64(whole))
		}
		s.size += int64(whole)
		s.pending = s.pending[whole:]
		return s.drop(err)
	}
	s.size += int64(n)
	s.pending = s.pending[:0]
	return nil
}

func (s *sink) drop(err error) error {
	lines := 0
	for _, b := range s.pending {
		if b == '\n' {
			lines++
		}
	}
	s.dropped += int64(lines)
	metrics.LogLinesDropped.Add(float64(lines))
	s.pending = s.pending[:0]
	s.lastErr = err
	return err
}

// reopen starts a new file at the log path, as the kubelet asks after it
// renamed the old one. Lines not yet written go to the new file.
func (s *sink) reopen() error {
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	s.dropped, s.lastErr = 0, nil
	return s.openFile()
}

func (s *sink) close() {
	_ = s.flush()
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

func (s *sink) streamEnded(stream string) {
	if !s.open[stream] {
		return
	}
	delete(s.open, stream)
	if len(s.open) == 0 {
		close(s.drained)
	}
}

// problem describes lost lines, or "" when there are none.
func (s *sink) problem() string {
	if s.lastErr == nil && s.dropped == 0 {
		return ""
	}
	msg := fmt.Sprintf("%d log lines could not be written to %s", s.dropped, s.Path)
	if s.lastErr != nil {
		var pe *os.PathError
		if errors.As(s.lastErr, &pe) {
			msg += ": " + pe.Err.Error()
		} else {
			msg += ": " + s.lastErr.Error()
		}
	}
	return msg
}
