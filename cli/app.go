package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// AppAddOptions are the flags of one `rkt app add`.
type AppAddOptions struct {
	Name string
	// Exec overrides the image's command; Exec[0] is the program.
	Exec       []string
	Env        []string // KEY=VALUE
	WorkingDir string
	User       string
	Group      string
	// SupplementaryGIDs are the process's groups besides Group.
	SupplementaryGIDs []int64
	// Mounts are --mnt-volume values.
	Mounts         []string
	ReadOnlyRootfs bool
	// Stdin, Stdout and Stderr are rkt's I/O modes: null, stream (through
	// stage1's iottymux, attachable) or tty.
	Stdin, Stdout, Stderr string
	// RetainCapabilities is the app's capability bounding set;
	// RemoveCapabilities takes capabilities out of rkt's default set
	// instead (rkt refuses an empty retain set).
	RetainCapabilities, RemoveCapabilities []string
	// Seccomp is rkt's --seccomp set ("mode=retain,@appc.io/all" for none);
	// empty leaves stage1's default.
	Seccomp string
	// NoNewPrivileges sets the app's no_new_privs (patch 0010).
	NoNewPrivileges bool
	// MaskedPaths are made inaccessible in the app, ReadonlyPaths
	// read-only (patch 0012; paths inside the app, missing ones ignored).
	MaskedPaths, ReadonlyPaths []string
	// PodMountNamespace runs the app in the pod's mount namespace instead
	// of its own (patch 0013), so that its mounts in an "rshared" volume
	// reach the host; it excludes masked and read-only paths and a
	// read-only rootfs.
	PodMountNamespace bool
	// VolumeOptions are per volume name (the "name=" of a Mounts entry)
	// options stage1 applies when it binds the volume (patch 0013).
	VolumeOptions map[string]VolumeOptions
	// OOMScoreAdj is the app's oom_score_adj (the pod's systemd sets it);
	// 0 leaves it as inherited.
	OOMScoreAdj int64
}

// VolumeOptions are a volume's mount options beyond rkt's own (patch 0013).
type VolumeOptions struct {
	// Propagation is "rprivate", "rslave" or "rshared".
	Propagation string `json:"propagation,omitempty"`
	// RecursiveReadOnly makes the submounts of a read-only volume
	// read-only too.
	RecursiveReadOnly bool `json:"recursiveReadOnly,omitempty"`
}

// AppAdd adds an app to a running pod.
func (r *Rkt) AppAdd(ctx context.Context, uuid, image string, o AppAddOptions) error {
	args := []string{"--insecure-options=image", "app", "add", uuid, image, "--name=" + o.Name}
	for _, e := range o.Env {
		args = append(args, "--environment="+e)
	}
	if o.WorkingDir != "" {
		args = append(args, "--working-dir="+o.WorkingDir)
	}
	if o.User != "" {
		args = append(args, "--user="+o.User)
	}
	if o.Group != "" {
		args = append(args, "--group="+o.Group)
	}
	if len(o.SupplementaryGIDs) > 0 {
		gids := make([]string, len(o.SupplementaryGIDs))
		for i, g := range o.SupplementaryGIDs {
			gids[i] = strconv.FormatInt(g, 10)
		}
		args = append(args, "--supplementary-gids="+strings.Join(gids, ","))
	}
	for _, m := range o.Mounts {
		args = append(args, "--mnt-volume="+m)
	}
	if o.ReadOnlyRootfs {
		args = append(args, "--readonly-rootfs=true")
	}
	if len(o.RetainCapabilities) > 0 {
		args = append(args, "--caps-retain="+strings.Join(o.RetainCapabilities, ","))
	} else if len(o.RemoveCapabilities) > 0 {
		args = append(args, "--caps-remove="+strings.Join(o.RemoveCapabilities, ","))
	}
	if o.Seccomp != "" {
		args = append(args, "--seccomp="+o.Seccomp)
	}
	if o.NoNewPrivileges {
		args = append(args, "--no-new-privileges=true")
	}
	if o.OOMScoreAdj != 0 {
		args = append(args, "--oom-score-adj="+strconv.FormatInt(o.OOMScoreAdj, 10))
	}
	for _, a := range []struct {
		name  string
		paths []string
	}{{"rktlet.io/masked-paths", o.MaskedPaths}, {"rktlet.io/readonly-paths", o.ReadonlyPaths}} {
		if len(a.paths) > 0 {
			b, err := json.Marshal(a.paths)
			if err != nil {
				return err
			}
			args = append(args, "--annotation="+a.name+"="+string(b))
		}
	}
	if o.PodMountNamespace {
		args = append(args, "--annotation=rktlet.io/pod-mount-namespace=true")
	}
	if len(o.VolumeOptions) > 0 {
		b, err := json.Marshal(o.VolumeOptions)
		if err != nil {
			return err
		}
		args = append(args, "--annotation=rktlet.io/volume-options="+string(b))
	}
	for _, io := range [][2]string{{"--stdin=", o.Stdin}, {"--stdout=", o.Stdout}, {"--stderr=", o.Stderr}} {
		if io[1] != "" {
			args = append(args, io[0]+io[1])
		}
	}
	if len(o.Exec) > 0 {
		args = append(args, "--exec="+o.Exec[0], "--")
		args = append(args, o.Exec[1:]...)
	}
	_, err := r.Run(ctx, args...)
	return err
}

// AppStart starts an added app.
func (r *Rkt) AppStart(ctx context.Context, uuid, app string) error {
	_, err := r.Run(ctx, "app", "start", uuid, "--app="+app)
	return err
}

// AppStop stops a running app (SIGTERM, then the pod systemd's stop timeout).
func (r *Rkt) AppStop(ctx context.Context, uuid, app string) error {
	_, err := r.Run(ctx, "app", "stop", uuid, "--app="+app)
	return err
}

// AppRemove removes an app from a pod; an app already gone is fine.
func (r *Rkt) AppRemove(ctx context.Context, uuid, app string) error {
	_, err := r.Run(ctx, "app", "rm", uuid, "--app="+app)
	var rerr *Error
	if errors.As(err, &rerr) && (strings.Contains(rerr.Stderr, "cannot find app") || strings.Contains(rerr.Stderr, "isn't currently running") || strings.Contains(rerr.Stderr, "not found")) {
		return nil
	}
	return err
}

// EnterUser is who a command run with Enter runs as: a uid and its groups,
// the primary one first.
type EnterUser struct {
	UID    int64
	Groups []int64
	// Capabilities, when set, are the capability numbers (comma-separated)
	// the command keeps in its bounding set: the app's own (patch 0009).
	Capabilities *string
	// WorkingDir is where the command starts, "/" when empty.
	WorkingDir string
	// NoNewPrivileges gives the command no_new_privs, as the app has
	// (patch 0010).
	NoNewPrivileges bool
	// Seccomp is the app's seccomp filter, the hex of its struct
	// sock_filter array, installed right before the exec (patch 0011).
	Seccomp string
	// MountNSPID is a process of the app (host PID) whose mount namespace,
	// the app unit's own, the command enters (patch 0012); 0: the pod's.
	MountNSPID int
	// CgroupProcs are cgroup.procs files (rktlet's mount namespace) stage1's
	// enter joins before it forks the command (patch 0014): the app unit's
	// cgroup and the app's limits.
	CgroupProcs []string
}

// EnterCommand prepares `rkt enter` of a command in an app's namespaces as
// user. The command runs in its own process group, which is killed as a
// whole when ctx ends (rkt enter's child too); the caller sets its stdio.
func (r *Rkt) EnterCommand(ctx context.Context, uuid, app string, user EnterUser, command []string) *exec.Cmd {
	args := append([]string{"enter", "--app=" + app, uuid}, command...)
	cmd := r.Command(ctx, args...)
	// Read by stage1's enter (patch 0006) and handed to enterexec, which
	// switches to them after the chroot.
	if len(user.Groups) > 0 {
		gids := make([]string, len(user.Groups))
		for i, g := range user.Groups {
			gids[i] = strconv.FormatInt(g, 10)
		}
		cmd.Env = append(cmd.Env, "RKT_ENTER_UID="+strconv.FormatInt(user.UID, 10), "RKT_ENTER_GIDS="+strings.Join(gids, ","))
	}
	if user.Capabilities != nil {
		cmd.Env = append(cmd.Env, "RKT_ENTER_CAPS="+*user.Capabilities)
	}
	if user.WorkingDir != "" {
		cmd.Env = append(cmd.Env, "RKT_ENTER_CWD="+user.WorkingDir)
	}
	if user.NoNewPrivileges {
		cmd.Env = append(cmd.Env, "RKT_ENTER_NO_NEW_PRIVS=1")
	}
	if user.Seccomp != "" {
		cmd.Env = append(cmd.Env, "RKT_ENTER_SECCOMP="+user.Seccomp)
	}
	if user.MountNSPID > 0 {
		cmd.Env = append(cmd.Env, "RKT_ENTER_MNT_PID="+strconv.Itoa(user.MountNSPID))
	}
	if len(user.CgroupProcs) > 0 {
		cmd.Env = append(cmd.Env, "RKT_ENTER_CGROUP_PROCS="+strings.Join(user.CgroupProcs, ":"))
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// The call does not wait for pipes a straggler might hold.
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// Enter runs a command in an app's namespaces as user and returns its
// output and exit code. It ends with ctx; the error is ctx's error then.
// At most maxOutput bytes of stdout and stderr together are kept, while the
// command runs: the rest is read and dropped, so that a command that
// writes without end (an exec probe running `cat /dev/zero`) costs no
// memory and the answer stays under gRPC's message limit.
func (r *Rkt) Enter(ctx context.Context, uuid, app string, user EnterUser, command []string, maxOutput int) (stdout, stderr []byte, exitCode int, err error) {
	if err := checkArgs(command); err != nil {
		return nil, nil, -1, err
	}
	cmd := r.EnterCommand(ctx, uuid, app, user, command)
	budget := &outputBudget{left: maxOutput}
	out, errOut := &cappedBuffer{budget: budget}, &cappedBuffer{budget: budget}
	cmd.Stdout, cmd.Stderr = out, errOut
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return out.Bytes(), errOut.Bytes(), -1, ctx.Err()
	}
	var exitErr *exec.ExitError
	if errors.As(runErr, &exitErr) {
		return out.Bytes(), errOut.Bytes(), exitErr.ExitCode(), nil
	}
	if runErr != nil {
		return nil, nil, -1, runErr
	}
	return out.Bytes(), errOut.Bytes(), 0, nil
}

// outputBudget is what the streams of one command may still keep.
type outputBudget struct {
	mu   sync.Mutex
	left int
}

// take grants up to n bytes of the budget.
func (b *outputBudget) take(n int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, b.left)
	b.left -= n
	return n
}

// cappedBuffer keeps what its budget grants of what is written to it and
// drops the rest, without failing the writer.
type cappedBuffer struct {
	bytes.Buffer
	budget *outputBudget
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.Buffer.Write(p[:c.budget.take(len(p))])
	return len(p), nil
}
