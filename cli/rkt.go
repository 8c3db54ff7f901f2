// Package cli runs the rkt command line: typed commands, parsed output and
// errors that keep rkt's exit code and stderr.
package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/rktlet/rktlet/errdefs"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// Rkt runs one rkt binary against one data directory.
type Rkt struct {
	Path    string
	DataDir string
}

// Error is a failed rkt invocation.
type Error struct {
	Args     []string
	ExitCode int
	Stderr   string
	Err      error
}

func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("rkt %s: %s", strings.Join(e.Args, " "), msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Command builds an rkt command with rktlet's global flags. `rkt app …` and
// `rkt attach` are experiments in rkt v1.30.0, enabled by environment
// variables (RKT_EXPERIMENT_APP, RKT_EXPERIMENT_ATTACH).
func (r *Rkt) Command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--dir=" + r.DataDir}, args...)
	cmd := exec.CommandContext(ctx, r.Path, full...)
	cmd.Env = append(os.Environ(), "RKT_EXPERIMENT_APP=true", "RKT_EXPERIMENT_ATTACH=true")
	// rkt must not outlive a rktlet killed with SIGKILL: a fetch left running
	// would store an image nobody recorded.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// ErrNULInArgument says a value rkt was to get holds a NUL byte, which no
// command line can carry.
var ErrNULInArgument = fmt.Errorf("holds a NUL byte: %w", errdefs.ErrInvalidArgument)

// checkArgs refuses a command line with a NUL byte, naming the argument,
// before exec does with a bare EINVAL.
func checkArgs(args []string) error {
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			name, _, _ := strings.Cut(a, "=")
			return fmt.Errorf("rkt argument %q: %w", name, ErrNULInArgument)
		}
	}
	return nil
}

// Run runs rkt and returns its stdout.
func (r *Rkt) Run(ctx context.Context, args ...string) ([]byte, error) {
	return r.run(ctx, nil, args...)
}

// run runs rkt with env added to its environment.
func (r *Rkt) run(ctx context.Context, env []string, args ...string) ([]byte, error) {
	if err := checkArgs(args); err != nil {
		return nil, err
	}
	cmd := r.Command(ctx, args...)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e := &Error{Args: args, ExitCode: -1, Stderr: stderr.String(), Err: err}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			e.ExitCode = exitErr.ExitCode()
		}
		if ctx.Err() != nil {
			e.Err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return stdout.Bytes(), e
	}
	return stdout.Bytes(), nil
}

// Version is what `rkt version` reports.
type Version struct {
	Rkt      string
	Appc     string
	Go       string
	Features []string
}

// Version runs `rkt version`.
func (r *Rkt) Version(ctx context.Context) (Version, error) {
	out, err := r.Run(ctx, "version")
	if err != nil {
		return Version{}, err
	}
	return ParseVersion(out)
}

// ParseVersion parses the output of `rkt version`.
func ParseVersion(out []byte) (Version, error) {
	var v Version
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.TrimSpace(key) {
		case "rkt Version":
			v.Rkt = value
		case "appc Version":
			v.Appc = value
		case "Go Version":
			v.Go = value
		case "Features":
			v.Features = strings.Fields(value)
		}
	}
	if v.Rkt == "" {
		return Version{}, fmt.Errorf("no \"rkt Version\" line in %q", out)
	}
	return v, nil
}

// RemovePod runs `rkt rm` of an exited pod; a pod rkt does not know is
// already removed.
func (r *Rkt) RemovePod(ctx context.Context, uuid string) error {
	_, err := r.Run(ctx, "rm", uuid)
	var rerr *Error
	if errors.As(err, &rerr) && (strings.Contains(rerr.Stderr, "no matches found") || strings.Contains(rerr.Stderr, "not found")) {
		return nil
	}
	return err
}
