package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// errSocketInUse means another process answers on the socket.
var errSocketInUse = errors.New("socket in use")

// listen opens the CRI unix socket. A stale socket file left by a dead rktlet
// is replaced; a socket someone still answers on is left alone. The lock file
// next to it makes the check-then-replace safe against a second rktlet
// starting at the same moment. The returned lock must stay open while serving.
func listen(path string) (net.Listener, *os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, err
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("%w: another rktlet holds %s.lock", errSocketInUse, path)
	}
	fail := func(err error) (net.Listener, *os.File, error) {
		lock.Close()
		return nil, nil, err
	}

	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return fail(fmt.Errorf("%s exists and is not a socket; remove it or choose another socket path", path))
		}
		if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
			conn.Close()
			return fail(fmt.Errorf("%w: another process is serving on %s", errSocketInUse, path))
		}
		if err := os.Remove(path); err != nil {
			return fail(fmt.Errorf("removing stale socket %s: %w", path, err))
		}
	}

	// Create the socket with mode 0660 from the start, not after a chmod.
	old := syscall.Umask(0o117)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return fail(err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return fail(err)
	}
	return l, lock, nil
}
