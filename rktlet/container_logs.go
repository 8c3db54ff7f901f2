package rktlet

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/store"
	"github.com/rktlet/rktlet/journal"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// containerLogs ships what containers write, from each pod's journal into
// the CRI log files (package journal).
type containerLogs interface {
	FollowPod(podID string, locate func() (string, error), containers []journal.Container)
	AddContainer(podID string, c journal.Container) error
	RemoveContainer(containerID string)
	Reopen(containerID string) error
	WaitDrained(ctx context.Context, containerID string, deadline time.Time) bool
	Problem(containerID string) string
	PodStopped(podID string)
	FinishPod(podID string, timeout time.Duration)
}

// logDrainLimit is how long after an app's exit its status may wait for the
// app's last lines to reach the log file: stage1 drains the app's pipes for
// at most 3 s after it exited.
const logDrainLimit = 4 * time.Second

// logPath is the container's CRI log file, or "" when the kubelet asked for
// none.
func logPath(sb *store.Sandbox, cfg *runtimeapi.ContainerConfig) string {
	if sb == nil || cfg.GetLogPath() == "" || sb.Config.GetLogDirectory() == "" {
		return ""
	}
	return filepath.Join(sb.Config.GetLogDirectory(), cfg.GetLogPath())
}

// logStreams are the streams a container's app writes: a terminal has one.
func logStreams(cfg *runtimeapi.ContainerConfig) []string {
	if cfg.GetTty() {
		return []string{journal.Stdout}
	}
	return []string{journal.Stdout, journal.Stderr}
}

// validateLogPath refuses a log path that would leave the pod's log
// directory: rktlet writes it as root.
func validateLogPath(sbCfg *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) error {
	p := cfg.GetLogPath()
	if p == "" {
		return nil
	}
	dir := sbCfg.GetLogDirectory()
	if dir == "" {
		return nil // no log is written
	}
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("the pod's log_directory %q is not an absolute path: %w", dir, errdefs.ErrInvalidArgument)
	}
	if !filepath.IsLocal(p) {
		return fmt.Errorf("config.log_path %q must be a relative path inside the pod's log_directory: %w", p, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (s *Service) containerLog(sb *store.Sandbox, c *store.Container) (journal.Container, bool) {
	path := logPath(sb, c.Config)
	return journal.Container{ID: c.ID, App: c.App, Path: path, Dir: sb.Config.GetLogDirectory(), Streams: logStreams(c.Config)}, path != ""
}

// followPod starts shipping the logs of a pod's containers.
func (s *Service) followPod(sb *store.Sandbox) {
	if sb.RktUUID == "" {
		return
	}
	var containers []journal.Container
	for _, c := range s.containers.InSandbox(sb.ID) {
		if lc, ok := s.containerLog(sb, c); ok {
			containers = append(containers, lc)
		}
	}
	uuid := sb.RktUUID
	s.logs.FollowPod(sb.ID, func() (string, error) { return s.pods.JournalDir(uuid) }, containers)
}

// ReopenContainerLog starts a new log file at the container's log path, as
// the kubelet asks after renaming the old one to rotate it.
func (s *Service) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	c, err := s.containers.Get(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	sb, _ := s.sandboxes.Get(c.SandboxID)
	if st := s.readAppState(c, sb); st.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil, fmt.Errorf("container %s is %s, not running: %w", c.ID, st.state, errdefs.ErrFailedPrecondition)
	}
	if logPath(sb, c.Config) == "" {
		return nil, fmt.Errorf("container %s has no log path: %w", c.ID, errdefs.ErrFailedPrecondition)
	}
	if err := s.logs.Reopen(c.ID); err != nil {
		if errors.Is(err, journal.ErrUnknownContainer) {
			return nil, fmt.Errorf("container %s: %w: %w", c.ID, err, errdefs.ErrFailedPrecondition)
		}
		return nil, fmt.Errorf("reopening the log of container %s: %w", c.ID, err)
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}
