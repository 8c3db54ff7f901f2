// Package regularfile reads files a request names, as root, without being
// stalled or flooded by what is there instead: only regular files, up to a
// size, and a FIFO or device never blocks the read.
package regularfile

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNotRegular says the path names something other than a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge says the file is larger than the caller takes.
var ErrTooLarge = errors.New("file too large")

// Read returns the content of the regular file at path, at most max bytes.
// It opens with O_NONBLOCK so that a FIFO cannot hang the caller, checks
// the opened file (not the path, which may change meanwhile), and reads no
// more than max+1 bytes whatever the file claims to hold.
func Read(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is a %s: %w", path, kind(fi.Mode()), ErrNotRegular)
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s holds %d bytes, more than %d: %w", path, fi.Size(), max, ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s holds more than %d bytes: %w", path, max, ErrTooLarge)
	}
	return b, nil
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
