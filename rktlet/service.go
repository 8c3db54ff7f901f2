// Package rktlet implements the CRI RuntimeService and ImageService on top of
// systemd, rkt and CNI.
package rktlet

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"syscall"

	"github.com/containernetworking/cni/libcni"
	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/config"
	"github.com/rktlet/rktlet/image"
	"github.com/rktlet/rktlet/internal/cgroups"
	"github.com/rktlet/rktlet/internal/logging"
	"github.com/rktlet/rktlet/internal/stage1"
	"github.com/rktlet/rktlet/internal/store"
	"github.com/rktlet/rktlet/network"
	"github.com/rktlet/rktlet/streaming"
	"github.com/rktlet/rktlet/systemd"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Version is rktlet's own version, set at build time with
// -ldflags "-X github.com/rktlet/rktlet/rktlet.Version=…".
var Version = "0.1.0-dev"

// systemdClient is what the services need of systemd.
type systemdClient interface {
	Version(ctx context.Context) (string, error)
	StartTransientUnit(ctx context.Context, name string, props []systemd.Property) error
	StopUnit(ctx context.Context, name string) error
	ResetFailed(ctx context.Context, name string) error
	State(ctx context.Context, name string) (systemd.UnitState, error)
	ListUnits(ctx context.Context, pattern string) ([]string, error)
}

// rktRunner is what the services need of the rkt command line.
type rktRunner interface {
	Version(ctx context.Context) (cli.Version, error)
}

// rktCommands is what the service runs rkt for: removing pods, the apps of
// containers, and commands in them (ExecSync here, streamed exec through the
// streaming server).
type rktCommands interface {
	rktRunner
	RemovePod(ctx context.Context, uuid string) error
	AppAdd(ctx context.Context, uuid, image string, o cli.AppAddOptions) error
	AppStart(ctx context.Context, uuid, app string) error
	AppStop(ctx context.Context, uuid, app string) error
	AppRemove(ctx context.Context, uuid, app string) error
	Enter(ctx context.Context, uuid, app string, user cli.EnterUser, command []string, maxOutput int) ([]byte, []byte, int, error)
	streaming.Enterer
}

// imageStore is the image service's backend.
type imageStore interface {
	Pull(ctx context.Context, ref string, auth *image.Auth) (image.Image, error)
	Get(name string) (image.Image, error)
	List() []image.Image
	Remove(ctx context.Context, name string) error
}

// stage1Image is the stage1 image pods run with, as an ID in rkt's store.
type stage1Image interface {
	ID(ctx context.Context) (string, error)
}

// podNetworker networks pods with CNI.
type podNetworker interface {
	LoadNetwork() (*libcni.NetworkConfigList, error)
	Setup(ctx context.Context, pod network.Pod) ([]string, error)
	Teardown(ctx context.Context, pod network.Pod) error
}

// containerLimiter enforces containers' resources in the host's cgroup
// mode: cgroups.V1 on hybrid hosts, cgroups.V2 on unified ones. Dirs are
// the container's own cgroup directories (V1), recorded before Start makes
// them.
type containerLimiter interface {
	NotEnforced(r *runtimeapi.LinuxContainerResources) []string
	// Prepare runs before `rkt app add`.
	Prepare(ctx context.Context, pod cgroups.Pod, app string, r *runtimeapi.LinuxContainerResources) error
	Dirs(ctx context.Context, pod cgroups.Pod, app string) (map[string]string, error)
	// Start runs start (`rkt app start`) with the limits in force from the
	// app's fork on.
	Start(ctx context.Context, pod cgroups.Pod, app string, dirs map[string]string, r *runtimeapi.LinuxContainerResources, start func() error) error
	Update(ctx context.Context, pod cgroups.Pod, app string, dirs map[string]string, r *runtimeapi.LinuxContainerResources) error
	OOMKilled(pod cgroups.Pod, id, app string, dirs map[string]string) bool
	Release(ctx context.Context, pod cgroups.Pod, id, app string, dirs map[string]string) error
	Recover(ctx context.Context, pod cgroups.Pod)
}

// appProcesses finds and signals an app's processes through its pod's
// cgroups (cgroups.Apps).
type appProcesses interface {
	// Path is the app unit's cgroup, ContainerPath the container's (its
	// slice on unified hosts, where the limits are).
	Path(ctx context.Context, unit, app string) (string, error)
	ContainerPath(ctx context.Context, unit, app string) (string, error)
	PodInitPID(ctx context.Context, unit string) (int, error)
	// RunningPID is a process of the app that runs in the app's own root.
	RunningPID(ctx context.Context, unit, app string, podInit int) (int, error)
	PIDs(ctx context.Context, unit, app string) ([]int, error)
	Signal(ctx context.Context, unit, app string, sig syscall.Signal) error
	Kill(ctx context.Context, unit, app string) error
	// MuxRunning tells whether stage1's I/O multiplexer of the app is
	// still draining its output.
	MuxRunning(ctx context.Context, unit, app string) bool
	// Forget drops what is cached of a removed pod.
	Forget(unit string)
}

// cgroupPod is what the limiter knows of a pod.
func cgroupPod(sb *store.Sandbox) cgroups.Pod {
	if sb == nil {
		return cgroups.Pod{}
	}
	return cgroups.Pod{ID: sb.ID, Unit: sb.Unit}
}

// Service serves the CRI. RPCs it does not implement yet are answered by the
// embedded Unimplemented servers with codes.Unimplemented.
type Service struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	config  config.Config
	log     *slog.Logger
	systemd systemdClient
	// rktVersion answers what rkt is, without running it for every call.
	rktVersion *rktProbe
	rktCmd     rktCommands
	network    podNetworker
	images     imageStore
	stage1     stage1Image

	imageFS, podFS *fsUsageCache

	sandboxes  *store.Sandboxes
	containers *store.Containers
	appCgroups appProcesses
	// cgroupMode is the host's (internal/cgroups), limits its limiter.
	cgroupMode cgroups.Mode
	limits     containerLimiter
	// pods finds stage1's files: app status (kept by inotify), journals.
	pods       *stage1.Pods
	accounts   *image.AccountsCache
	logs       containerLogs
	cpuSamples cgroups.CPURates
	stream     *streaming.Server
	recovered  atomic.Bool
	// node is what the kubelet said of its node (UpdateRuntimeConfig).
	node *nodeConfig
}

// Deps are what the service is built on.
type Deps struct {
	Config  config.Config
	Log     *slog.Logger
	Systemd systemdClient
	Rkt     rktCommands
	Network podNetworker
	Images  imageStore
	Stage1  stage1Image
	Logs    containerLogs
	// StreamURL is where the streaming server (Service.StreamHandler) is
	// served: exec, attach and port-forward URLs point there.
	StreamURL *url.URL
}

// New wires the CRI services to their backends.
func New(d Deps) *Service {
	cfg, log := d.Config, d.Log
	imageFS, podFS := newStoreCaches(cfg.RktDataDir)
	node, err := loadNodeConfig(cfg.StateDir)
	if err != nil {
		log.Warn("forgetting the recorded pod CIDR: its file does not read; the kubelet sends it again", "error", err)
	}
	s := &Service{
		node:       node,
		config:     cfg,
		log:        log,
		systemd:    d.Systemd,
		rktVersion: newRktProbe(cfg.RktPath, d.Rkt),
		rktCmd:     d.Rkt,
		sandboxes:  store.NewSandboxes(cfg.StateDir),
		containers: store.NewContainers(cfg.StateDir),
		accounts:   image.NewAccountsCache(cfg.RktDataDir),
		pods:       stage1.NewPods(cfg.RktDataDir, log),
		network:    d.Network,
		images:     d.Images,
		stage1:     d.Stage1,
		logs:       d.Logs,
		imageFS:    imageFS,
		podFS:      podFS,
	}
	s.cgroupMode = cgroups.DetectMode()
	apps := cgroups.NewApps(func(ctx context.Context, unit string) (string, error) {
		st, err := d.Systemd.State(ctx, unit)
		return st.ControlGroup, err
	}, s.cgroupMode)
	s.appCgroups = apps
	if s.cgroupMode == cgroups.Unified {
		s.limits = cgroups.NewV2(log, apps)
	} else {
		s.limits = cgroups.NewV1(log, apps)
	}
	log.Info("cgroup mode", "mode", s.cgroupMode, "limits", map[cgroups.Mode]string{
		cgroups.Unified: "through the pod's systemd: a slice per container",
		cgroups.Hybrid:  "in rktlet's own cgroup v1 directories per container",
		cgroups.Legacy:  "none: rktlet needs a cgroup2 hierarchy",
	}[s.cgroupMode])
	s.stream = streaming.NewServer(d.StreamURL, &streaming.Runtime{Containers: s, Rkt: d.Rkt}, log)
	return s
}

// logger is the logger of the request ctx belongs to (its number, method
// and subjects, from the interceptor), or the service's.
func (s *Service) logger(ctx context.Context) *slog.Logger { return logging.FromContext(ctx, s.log) }

// StreamHandler serves the URLs Exec, Attach and PortForward hand out.
func (s *Service) StreamHandler() http.Handler { return s.stream }

// Register registers the runtime and image services on a gRPC server.
func (s *Service) Register(srv *grpc.Server) {
	runtimeapi.RegisterRuntimeServiceServer(srv, s)
	runtimeapi.RegisterImageServiceServer(srv, s)
}
