// Command rktlet is a Kubernetes container runtime (CRI v1) that runs pods as
// systemd units with rkt.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/config"
	"github.com/rktlet/rktlet/image"
	"github.com/rktlet/rktlet/internal/logging"
	"github.com/rktlet/rktlet/internal/metrics"
	"github.com/rktlet/rktlet/internal/panics"
	"github.com/rktlet/rktlet/journal"
	"github.com/rktlet/rktlet/network"
	"github.com/rktlet/rktlet/rktlet"
	"github.com/rktlet/rktlet/systemd"
	"google.golang.org/grpc"
)

// notify tells the service manager of rktlet's state (sd_notify) when it
// runs as a Type=notify unit; elsewhere it does nothing.
func notify(log *slog.Logger, states ...string) {
	if _, err := daemon.SdNotify(false, strings.Join(states, "\n")); err != nil {
		log.Warn("telling systemd of rktlet's state (sd_notify)", "error", err)
	}
}

// shutdownGrace bounds how long in-flight RPCs may finish after SIGTERM.
const shutdownGrace = 30 * time.Second

func main() {
	args := os.Args[1:]
	var err error
	switch {
	case len(args) > 0 && args[0] == "config":
		err = configCommand(args[1:], os.Stdout)
	case wantsVersion(args):
		err = printVersion(args, os.Stdout)
	default:
		err = run(args)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "rktlet: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := config.Load(args, os.Stderr)
	if err != nil {
		return err
	}
	level, _ := cfg.SlogLevel() // validated by Load
	log := logging.New(os.Stderr, level, cfg.LogFormat)
	slog.SetDefault(log) // for packages with no logger of their own (internal/panics)

	for _, dir := range []string{cfg.StateDir, cfg.RktDataDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}

	listener, lock, err := listen(cfg.Socket)
	if err != nil {
		return err
	}
	defer lock.Close()
	// After the socket: a second rktlet started by mistake says the socket
	// is taken, not that the metrics port is.
	if cfg.MetricsAddress != "" {
		ms, err := metrics.Listen(cfg.MetricsAddress, metrics.Registry(), log)
		if err != nil {
			return err
		}
		defer ms.Close(context.Background())
		log.Info("serving metrics", "address", "http://"+ms.Addr+"/metrics")
	}

	sd := systemd.NewConn()
	defer sd.Close()
	rkt := &cli.Rkt{Path: cfg.RktPath, DataDir: cfg.RktDataDir}
	cni := &network.CNI{ConfDir: cfg.CNIConfDir, PluginDirs: cfg.CNIPluginDirs, CacheDir: filepath.Join(cfg.StateDir, "cni")}
	images, err := image.NewStore(rkt, cfg.StateDir, registries(cfg), log)
	if err != nil {
		return err
	}
	// rkt may be missing or broken now and fixed later: Status says so, and
	// the index is used as it was written until then.
	if err := images.Reconcile(context.Background()); err != nil {
		log.Error("checking the image index against rkt's store", "error", err)
	}
	logs, err := journal.NewManager(filepath.Join(cfg.StateDir, "logs"), log)
	if err != nil {
		return err
	}
	// Followers write their checkpoints as they stop.
	defer logs.Close()
	stream, err := listenStream(cfg)
	if err != nil {
		return err
	}
	stage1 := image.NewStage1(rkt, cfg.Stage1Path)
	// Imported now rather than by the first pod, which would wait for it.
	go func() {
		if _, err := stage1.ID(context.Background()); err != nil {
			log.Warn("importing the stage1 image; the next pod start tries again", "error", err)
		}
	}()
	svc := rktlet.New(rktlet.Deps{
		Config: cfg, Log: log, Systemd: sd, Rkt: rkt, Network: cni, Images: images, Stage1: stage1, Logs: logs,
		StreamURL: stream.url,
	})
	stream.handle(svc.StreamHandler())
	go func() {
		if err := stream.serve(); err != nil {
			log.Error("streaming server stopped", "error", err)
		}
	}()
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		stream.close(closeCtx)
	}()

	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(rktlet.UnaryInterceptor(log, svc.RecoveryGate)),
		grpc.ChainStreamInterceptor(rktlet.StreamInterceptor(log, svc.RecoveryGate)),
	)
	svc.Register(srv)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	serving := make(chan struct{})
	notify(log, "STATUS=recovering pods and containers from systemd and the state files")
	// The sandbox index is rebuilt from systemd and the state files before
	// any sandbox RPC is answered (they say Unavailable until then); a
	// systemd that does not answer yet is retried.
	go func() {
		// Recovery and the watcher build the index every RPC reads: a
		// panic there leaves it wrong, so rktlet exits and starts over.
		defer panics.Exit("recovery and the unit watcher")
		began := time.Now()
		for ctx.Err() == nil {
			recoverCtx, cancel := context.WithTimeout(ctx, time.Minute)
			err := svc.Recover(recoverCtx)
			cancel()
			if err == nil {
				metrics.Recovery.Set(time.Since(began).Seconds())
				// Type=notify: the unit is active once pods and containers
				// can be asked for, not merely once the socket exists.
				<-serving
				notify(log, daemon.SdNotifyReady, "STATUS=serving the CRI on "+cfg.Socket)
				svc.WatchUnits(ctx)
				return
			}
			log.Error("recovering pod sandboxes from systemd and the state files; retrying", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}()
	serveErr := make(chan error, 1)
	go func() {
		close(serving)
		serveErr <- srv.Serve(listener)
	}()
	log.Info("rktlet serving", "version", rktlet.Version, "socket", cfg.Socket, "streaming", stream.url.String(), "rkt", cfg.RktPath, "stage1", cfg.Stage1Path)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving on %s: %w", cfg.Socket, err)
	case <-ctx.Done():
	}
	log.Info("shutting down: no new RPCs, waiting for those in flight; pods keep running")
	notify(log, daemon.SdNotifyStopping)
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		log.Warn("in-flight RPCs did not finish in time, stopping", "grace", shutdownGrace)
		srv.Stop()
	}
	// GracefulStop closed the listener, which removed the socket file.
	return nil
}

// registries is the image store's view of the registry settings.
func registries(cfg config.Config) image.Registries {
	hosts := make(map[string]image.HostTLS, len(cfg.RegistryHosts))
	for h, s := range cfg.RegistryHosts {
		hosts[h] = image.HostTLS(s)
	}
	return image.Registries{Mirrors: cfg.RegistryMirrors, MirrorsOnly: cfg.RegistryMirrorsOnly, Hosts: hosts}
}
