package rktlet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/appspec"
	"github.com/rktlet/rktlet/internal/metrics"
	"github.com/rktlet/rktlet/internal/store"
	"github.com/rktlet/rktlet/network"
	"github.com/rktlet/rktlet/systemd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// podStartTimeout bounds the pod unit's start job: stage1-host is ready in
// well under a second on an idle host, far longer on a loaded or emulated
// one.
const podStartTimeout = 2 * time.Minute

// RunPodSandbox starts a pod: a network namespace joined to the CNI network,
// then a transient unit running `rkt app sandbox` in it.
func (s *Service) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	arrived := time.Now()
	cfg := req.GetConfig()
	if err := appspec.ValidateSandboxConfig(cfg); err != nil {
		return nil, err
	}
	if h := req.GetRuntimeHandler(); h != "" {
		return nil, fmt.Errorf("runtime handler %q: rktlet has only the default handler: %w", h, errdefs.ErrInvalidArgument)
	}
	// The name is reserved before any work: concurrent identical calls (a
	// kubelet retrying while the first is still starting the pod) wait
	// here, then get the pod the first one made.
	unlockName := s.sandboxes.LockName(sandboxName(cfg.GetMetadata()))
	defer unlockName()
	if existing := s.sandboxByName(cfg.GetMetadata()); existing != nil {
		if existing.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			// A kubelet retrying after a timeout gets the pod it asked for.
			return &runtimeapi.RunPodSandboxResponse{PodSandboxId: existing.ID}, nil
		}
		return nil, fmt.Errorf("pod sandbox %s already exists as %s (%s): %w", sandboxName(cfg.GetMetadata()), existing.ID, existing.State, errdefs.ErrAlreadyExists)
	}

	stage1ID, err := s.stage1.ID(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}

	id, err := newID()
	if err != nil {
		return nil, err
	}
	unlock := s.sandboxes.Lock(id)
	defer unlock()
	sb, err := store.NewSandbox(id, cfg)
	if err != nil {
		return nil, err
	}
	sb.HostNetwork = cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() == runtimeapi.NamespaceMode_NODE
	if err := s.sandboxes.Create(sb); err != nil {
		return nil, err
	}
	if latest, err := s.startSandbox(ctx, sb, stage1ID); err != nil {
		// Undo on a context of its own: the caller's may be what ran out.
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if cerr := s.teardownSandbox(cleanupCtx, latest, teardownUndo); cerr != nil {
			s.logger(ctx).Error("undoing a pod that failed to start", "id", id, "error", cerr)
			return nil, fmt.Errorf("%w (undoing it also failed: %v)", err, cerr)
		}
		return nil, err
	}
	metrics.PodStarts.Observe(time.Since(arrived).Seconds())
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

func sandboxName(md *runtimeapi.PodSandboxMetadata) string {
	return fmt.Sprintf("%s/%s (uid %s, attempt %d)", md.GetNamespace(), md.GetName(), md.GetUid(), md.GetAttempt())
}

func (s *Service) sandboxByName(md *runtimeapi.PodSandboxMetadata) *store.Sandbox {
	for _, sb := range s.sandboxes.List() {
		m := sb.Metadata()
		if m.GetName() == md.GetName() && m.GetNamespace() == md.GetNamespace() && m.GetUid() == md.GetUid() && m.GetAttempt() == md.GetAttempt() {
			return sb
		}
	}
	return nil
}

func newID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func (s *Service) uuidFile(id string) string {
	return filepath.Join(s.config.StateDir, "sandboxes", id+".uuid")
}

// startSandbox does the work of RunPodSandbox after the record is written.
// Published records are never changed: each step saves a new copy, and the
// last one is returned, also on failure, for the undo.
func (s *Service) startSandbox(ctx context.Context, published *store.Sandbox, stage1ID string) (*store.Sandbox, error) {
	sb := published
	step := func(change func(next *store.Sandbox)) error {
		next, err := s.sandboxes.Replace(sb.ID, change)
		if err == nil {
			sb = next
		}
		return err
	}
	cfg := sb.Config
	// The pod's network is set up while its unit starts: the unit needs
	// only the namespace, and no app joins the pod before both are done.
	var networked <-chan networkResult
	if !sb.HostNetwork {
		path, err := network.NewNetNS(sb.NetNSName())
		if err != nil {
			return sb, err
		}
		if err := step(func(next *store.Sandbox) { next.NetNS = path }); err != nil {
			return sb, err
		}
		done := make(chan networkResult, 1)
		go func(pod network.Pod) {
			ips, err := s.network.Setup(ctx, pod)
			done <- networkResult{ips, err}
		}(podNetwork(sb))
		networked = done
	}

	startCtx, cancel := context.WithTimeout(ctx, podStartTimeout)
	defer cancel()
	unitErr := s.systemd.StartTransientUnit(startCtx, sb.Unit, s.unitProperties(ctx, sb, stage1ID))
	// Waited for also when the unit failed: the undo must not tear the
	// network down while CNI is still adding it.
	if networked != nil {
		res := <-networked
		if res.err != nil {
			return sb, fmt.Errorf("networking pod %s: %w", sandboxName(cfg.GetMetadata()), res.err)
		}
		if err := step(func(next *store.Sandbox) { next.IPs = res.ips }); err != nil {
			return sb, err
		}
	}
	if unitErr != nil {
		return sb, s.unitStartError(ctx, sb, unitErr)
	}
	uuid, err := os.ReadFile(s.uuidFile(sb.ID))
	if err != nil {
		return sb, fmt.Errorf("pod %s started but rkt wrote no pod UUID: %w", sb.Unit, err)
	}
	if err := step(func(next *store.Sandbox) { next.RktUUID = strings.TrimSpace(string(uuid)) }); err != nil {
		return sb, err
	}
	// Ready for the kubelet means ready for containers.
	for !s.pods.SupervisorReady(sb.RktUUID) {
		select {
		case <-startCtx.Done():
			return sb, fmt.Errorf("pod %s started but its stage1 supervisor never became ready: %w", sb.Unit, startCtx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if sysctls := cfg.GetLinux().GetSysctls(); len(sysctls) > 0 {
		leader, err := s.appCgroups.PodInitPID(ctx, sb.Unit)
		if err != nil {
			return sb, fmt.Errorf("setting the sysctls of pod %s: %w", sb.Unit, err)
		}
		if err := applySysctls(leader, sysctls); err != nil {
			return sb, fmt.Errorf("setting the sysctls of pod %s: %w", sb.Unit, err)
		}
	}
	if err := step(func(next *store.Sandbox) {
		next.Phase = store.PhaseCreated
		next.State = runtimeapi.PodSandboxState_SANDBOX_READY
	}); err != nil {
		return sb, err
	}
	s.followPod(sb)
	return sb, nil
}

type networkResult struct {
	ips []string
	err error
}

func podNetwork(sb *store.Sandbox) network.Pod {
	md := sb.Metadata()
	pod := network.Pod{ID: sb.ID, Name: md.GetName(), Namespace: md.GetNamespace(), UID: md.GetUid(), NetNS: sb.NetNS}
	for _, pm := range sb.Config.GetPortMappings() {
		proto := strings.ToLower(pm.GetProtocol().String())
		pod.Ports = append(pod.Ports, network.PortMapping{
			HostPort: pm.GetHostPort(), ContainerPort: pm.GetContainerPort(), Protocol: proto, HostIP: pm.GetHostIp(),
		})
	}
	return pod
}

func (s *Service) unitProperties(ctx context.Context, sb *store.Sandbox, stage1ID string) []systemd.Property {
	md := sb.Metadata()
	props := []systemd.Property{
		systemd.PropString("Description", fmt.Sprintf("rktlet pod %s/%s", md.GetNamespace(), md.GetName())),
		systemd.PropExecStart(appspec.SandboxArgs(sb.Config, appspec.SandboxParams{
			RktPath: s.config.RktPath, RktDataDir: s.config.RktDataDir, Stage1ID: stage1ID,
			UUIDFile: s.uuidFile(sb.ID), SandboxID: sb.ID, HostNetwork: sb.HostNetwork,
		})),
		systemd.PropString("Type", "notify"),
		// nspawn (the main process) stops the pod's systemd; mixed sends
		// SIGTERM to it alone and SIGKILL to everything at the timeout.
		systemd.PropString("KillMode", "mixed"),
		// nspawn makes the pod's payload and supervisor cgroups below ours.
		systemd.PropBool("Delegate", true),
		systemd.PropUint64("TimeoutStartUSec", uint64(podStartTimeout/time.Microsecond)),
		systemd.PropUint64("TimeoutStopUSec", uint64(30*time.Second/time.Microsecond)),
		// SYSTEMD_SECCOMP=0: nspawn installs no seccomp filter of its own
		// on the pod. Each container's filter is the one its security
		// context asks for (the app unit's SystemCallFilter=); under
		// nspawn's, an Unconfined container (the kubelet's default) would
		// still be filtered. nspawn does not pass it on to the pod.
		systemd.PropStrings("Environment", []string{"RKT_EXPERIMENT_APP=true", "RKT_EXPERIMENT_ATTACH=true", "SYSTEMD_SECCOMP=0", s.ownerMark()}),
	}
	if parent := sb.Config.GetLinux().GetCgroupParent(); strings.HasSuffix(parent, ".slice") {
		props = append(props, systemd.PropString("Slice", filepath.Base(parent)))
	} else if parent != "" {
		s.logger(ctx).Warn("cgroup parent is not a systemd slice; the pod goes to the default slice (rktlet uses the systemd cgroup driver)", "id", sb.ID, "cgroupParent", parent)
	}
	if sb.NetNS != "" {
		props = append(props, systemd.PropString("NetworkNamespacePath", sb.NetNS))
	}
	return props
}

// ownerMark is set in the environment of every pod unit, so that a rktlet
// can tell its own units from those of another rktlet (another state dir)
// on the same systemd.
func (s *Service) ownerMark() string { return "RKTLET_STATE_DIR=" + s.config.StateDir }

// unitStartError explains a failed start with the unit's result and the
// last lines of its journal.
func (s *Service) unitStartError(ctx context.Context, sb *store.Sandbox, startErr error) error {
	result := "unknown"
	if st, err := s.systemd.State(context.WithoutCancel(ctx), sb.Unit); err == nil && st.Result != "" {
		result = st.Result
	}
	lines := journalTail(sb.Unit, 10)
	msg := fmt.Sprintf("pod unit %s did not start (result %s): %v", sb.Unit, result, startErr)
	if lines != "" {
		msg += "; last journal lines:\n" + lines
	}
	kind := errdefs.ErrUnavailable
	if errors.Is(startErr, context.DeadlineExceeded) {
		kind = context.DeadlineExceeded
	}
	return fmt.Errorf("%s: %w", msg, kind)
}

// journalTail returns a unit's last journal lines (only on the failure
// path, where running journalctl is affordable).
func journalTail(unit string, n int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "journalctl", "-u", unit, "-n", fmt.Sprint(n), "--no-pager", "-o", "cat").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
