// Package streaming runs exec, attach and port-forward for the kubelet's CRI
// streaming server (k8s.io/cri-streaming): the Exec, Attach and PortForward
// RPCs hand out a URL with a random single-use token, and the server calls
// this package's Runtime when the client connects.
package streaming

import (
	"context"
	"errors"
	"fmt"
	"github.com/rktlet/rktlet/internal/panics"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	"github.com/creack/pty"
	"github.com/vishvananda/netns"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/rktlet/rktlet/cli"
)

// ExecTarget is what exec needs to know of a running container.
type ExecTarget struct {
	PodUUID string
	App     string
	User    cli.EnterUser
}

// AttachTarget is where a running container's stdio can be reached: the
// directory of stage1's iottymux sockets for the app, seen from the host
// (through the pod leader's /proc root).
type AttachTarget struct {
	IODir string
	TTY   bool
	// TTYDevice is the app's terminal, for resizing.
	TTYDevice string
}

// Containers resolves IDs; implemented by the CRI service.
type Containers interface {
	ExecTarget(ctx context.Context, containerID string) (ExecTarget, error)
	AttachTarget(ctx context.Context, containerID string) (AttachTarget, error)
	// PodNetNS is the pod's network namespace file, "" for host network.
	PodNetNS(ctx context.Context, podID string) (string, error)
}

// Enterer starts commands in an app with `rkt enter`.
type Enterer interface {
	EnterCommand(ctx context.Context, uuid, app string, user cli.EnterUser, command []string) *exec.Cmd
}

// Runtime implements the streaming server's runtime side.
type Runtime struct {
	Containers Containers
	Rkt        Enterer
}

// exitError reports a command's exit code the way the streaming server
// passes it on to the client.
func exitError(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return utilexec.CodeExitError{Err: err, Code: ee.ExitCode()}
	}
	return err
}

// Exec runs cmd in the container. With a terminal the command gets a pty
// whose size follows resize; without, its stdio are the stream's. The
// command and everything it started are killed when the stream ends.
func (r *Runtime) Exec(ctx context.Context, containerID string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	t, err := r.Containers.ExecTarget(ctx, containerID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := r.Rkt.EnterCommand(ctx, t.PodUUID, t.App, t.User, cmd)
	if !tty {
		if in != nil {
			c.Stdin = in
		}
		c.Stdout, c.Stderr = out, errOut
		return exitError(c.Run())
	}

	// A terminal: its own session, so that the pty becomes the
	// controlling terminal; the session's group is killed at the end.
	attrs := *c.SysProcAttr
	attrs.Setpgid, attrs.Setsid, attrs.Setctty = false, true, true
	c.SysProcAttr = &attrs
	ptm, err := pty.StartWithAttrs(c, nil, c.SysProcAttr)
	if err != nil {
		return fmt.Errorf("starting %q with a terminal: %w", cmd, err)
	}
	defer ptm.Close()
	go followResize(ctx, ptm, resize)
	if in != nil {
		go func() {
			_, _ = io.Copy(ptm, in)
			// The client closed its input: the terminal hangs up.
			sendEOF(ctx, ptm)
		}()
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, ptm) // ends with EIO once the command exited
	}()
	err = c.Wait()
	ptm.Close()
	<-copied
	return exitError(err)
}

// sendEOF sends the terminal's end-of-file character, as a user typing
// ^D would, so that a shell reading it exits.
func sendEOF(ctx context.Context, ptm *os.File) {
	if ctx.Err() == nil {
		_, _ = ptm.Write([]byte{4})
	}
}

func followResize(ctx context.Context, f *os.File, resize <-chan remotecommandserver.TerminalSize) {
	for {
		select {
		case <-ctx.Done():
			return
		case size, ok := <-resize:
			if !ok {
				return
			}
			if size.Width > 0 && size.Height > 0 {
				_ = pty.Setsize(f, &pty.Winsize{Rows: size.Height, Cols: size.Width})
			}
		}
	}
}

// Attach connects the stream to the app's own stdio through stage1's
// iottymux: its sockets give the app's output as it comes (one client
// falling behind is dropped, never the app blocked) and take input for the
// app's stdin.
func (r *Runtime) Attach(ctx context.Context, containerID string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	t, err := r.Containers.AttachTarget(ctx, containerID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dial := func(name string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(t.IODir, "sock-"+name))
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	done := make(chan struct{}, 3)
	var outputs sync.WaitGroup
	copyOut := func(conn net.Conn, w io.Writer) {
		outputs.Add(1)
		go func() {
			defer outputs.Done()
			_, _ = io.Copy(w, conn)
			done <- struct{}{}
		}()
	}
	if t.TTY {
		conn, err := dial("tty")
		if err != nil {
			return fmt.Errorf("attaching to container %s: %w", containerID, err)
		}
		conns = append(conns, conn)
		if in != nil {
			go copyIn(conn, in, done)
		}
		if out != nil {
			copyOut(conn, out)
		}
		if t.TTYDevice != "" {
			if dev, err := os.OpenFile(t.TTYDevice, os.O_RDWR|syscall.O_NOCTTY, 0); err == nil {
				defer dev.Close()
				go followResize(ctx, dev, resize)
			}
		}
	} else {
		if in != nil {
			conn, err := dial("stdin")
			if err != nil {
				return fmt.Errorf("attaching to the stdin of container %s (created without stdin?): %w", containerID, err)
			}
			conns = append(conns, conn)
			go copyIn(conn, in, done)
		}
		for _, s := range []struct {
			name string
			w    io.Writer
		}{{"stdout", out}, {"stderr", errOut}} {
			if s.w == nil {
				continue
			}
			conn, err := dial(s.name)
			if err != nil {
				return fmt.Errorf("attaching to the %s of container %s: %w", s.name, containerID, err)
			}
			conns = append(conns, conn)
			copyOut(conn, s.w)
		}
	}
	if len(conns) == 0 {
		return fmt.Errorf("attach to container %s: no stream asked for", containerID)
	}
	// The attach ends when the client closes its input, when the app's
	// output ends (it exited) or when the client goes away.
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// copyIn passes the client's input to the app until the client closes it,
// which ends the attach.
func copyIn(conn net.Conn, in io.Reader, done chan<- struct{}) {
	_, _ = io.Copy(conn, in)
	done <- struct{}{}
}

// PortForward connects the stream to a TCP port inside the pod's network
// namespace (127.0.0.1, then ::1), dialled from a thread that enters the
// namespace only for the dial.
func (r *Runtime) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	if port <= 0 || port > 65535 {
		return fmt.Errorf("port %d is not a TCP port", port)
	}
	path, err := r.Containers.PodNetNS(ctx, podID)
	if err != nil {
		return err
	}
	conn, err := dialInNetNS(ctx, path, port)
	if err != nil {
		return fmt.Errorf("port-forward to port %d of pod %s: %w", port, podID, err)
	}
	defer conn.Close()
	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(conn, stream)
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		errc <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		errc <- err
	}()
	select {
	case <-errc:
	case <-ctx.Done():
	}
	return nil
}

func dialInNetNS(ctx context.Context, path string, port int32) (net.Conn, error) {
	dial := func() (net.Conn, error) {
		var d net.Dialer
		p := strconv.Itoa(int(port))
		conn, err := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", p))
		if err == nil {
			return conn, nil
		}
		conn, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", p))
		if err6 == nil {
			return conn, nil
		}
		return nil, err
	}
	if path == "" {
		return dial()
	}
	type result struct {
		conn net.Conn
		err  error
	}
	res := make(chan result, 1)
	go func() {
		// A panic ends this port-forward only; the thread, still locked,
		// ends with the goroutine.
		defer panics.Recover("dialing into a pod's network namespace", func(err error) { res <- result{nil, err} })
		// This goroutine's thread alone changes namespace; a thread that
		// cannot be put back is not unlocked, so the runtime ends it.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			res <- result{nil, err}
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			res <- result{nil, fmt.Errorf("pod network namespace %s: %w", path, err)}
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			res <- result{nil, err}
			runtime.UnlockOSThread()
			return
		}
		// The socket belongs to the namespace it is created in; the
		// dial's other goroutines (Go's net poller) do not need it.
		conn, err := dial()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		res <- result{conn, err}
	}()
	r := <-res
	return r.conn, r.err
}
