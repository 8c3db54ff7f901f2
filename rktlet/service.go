// Package rktlet implements the CRI RuntimeService and ImageService on top of
// systemd, rkt and CNI.
package rktlet

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/containernetworking/cni/libcni"
	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/config"
	"github.com/rktlet/rktlet/image"
	"github.com/rktlet/rktlet/network"
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
	RemovePod(ctx context.Context, uuid string) error
}

// rktApps is what containers need of rkt.
type rktApps interface {
	AppAdd(ctx context.Context, uuid, image string, o cli.AppAddOptions) error
	AppStart(ctx context.Context, uuid, app string) error
	AppStop(ctx context.Context, uuid, app string) error
	AppRemove(ctx context.Context, uuid, app string) error
	Enter(ctx context.Context, uuid, app string, user cli.EnterUser, command []string, maxOutput int) ([]byte, []byte, int, error)
}

// imageStore is the image service's backend.
type imageStore interface {
	Pull(ctx context.Context, ref string, auth *image.Auth) (image.Image, error)
	Get(name string) (image.Image, error)
	List() []image.Image
	Remove(ctx context.Context, name string) error
}

// podNetworker networks pods with CNI.
type podNetworker interface {
	LoadNetwork() (*libcni.NetworkConfigList, error)
	Setup(ctx context.Context, pod network.Pod) ([]string, error)
	Teardown(ctx context.Context, pod network.Pod) error
}

// Service serves the CRI. RPCs it does not implement yet are answered by the
// embedded Unimplemented servers with codes.Unimplemented.
type Service struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	config  config.Config
	log     *slog.Logger
	systemd systemdClient
	rkt     *rktProbe
	rktPods rktRunner
	network podNetworker
	images  imageStore

	imageFS, podFS *fsUsageCache

	sandboxes  *sandboxStore
	containers *containerStore
	rktApps    rktApps
	appCgroups *appCgroups
	limits     *containerLimits
	// statusFiles holds stage1's app status files, updated by inotify.
	statusFiles *appStatusFiles
	accounts    *accountsCache
	logs        containerLogs
	cpuSamples  cpuSamples
	stream      streamServer
	recovered   atomic.Bool
	// node is what the kubelet said of its node (UpdateRuntimeConfig).
	node *nodeConfig
}

// SetRktApps gives the service rkt's app commands (containers).
func (s *Service) SetRktApps(apps rktApps) { s.rktApps = apps }

// NewService wires the CRI services to their backends.
func NewService(cfg config.Config, log *slog.Logger, sd systemdClient, rkt rktRunner, network podNetworker, images imageStore) *Service {
	imageFS, podFS := newStoreCaches(cfg.RktDataDir)
	node, err := loadNodeConfig(cfg.StateDir)
	if err != nil {
		log.Warn("forgetting the recorded pod CIDR: its file does not read; the kubelet sends it again", "error", err)
	}
	return &Service{
		node:        node,
		config:      cfg,
		log:         log,
		systemd:     sd,
		rkt:         newRktProbe(cfg.RktPath, rkt),
		rktPods:     rkt,
		sandboxes:   newSandboxStore(cfg.StateDir),
		containers:  newContainerStore(cfg.StateDir),
		accounts:    newAccountsCache(cfg.RktDataDir),
		statusFiles: newAppStatusFiles(log),
		appCgroups:  &appCgroups{systemd: sd},
		limits:      newContainerLimits(log),
		network:     network,
		images:      images,
		imageFS:     imageFS,
		podFS:       podFS,
	}
}

// Register registers the runtime and image services on a gRPC server.
func (s *Service) Register(srv *grpc.Server) {
	runtimeapi.RegisterRuntimeServiceServer(srv, s)
	runtimeapi.RegisterImageServiceServer(srv, s)
}
