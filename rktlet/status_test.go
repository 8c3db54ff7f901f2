package rktlet

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/config"
	"github.com/rktlet/rktlet/network"
	"github.com/rktlet/rktlet/systemd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type fakeSystemd struct{ err error }

func (f fakeSystemd) Version(context.Context) (string, error) { return "252", f.err }
func (f fakeSystemd) StartTransientUnit(context.Context, string, []systemd.Property) error {
	return f.err
}
func (f fakeSystemd) StopUnit(context.Context, string) error    { return f.err }
func (f fakeSystemd) ResetFailed(context.Context, string) error { return f.err }
func (f fakeSystemd) State(context.Context, string) (systemd.UnitState, error) {
	return systemd.UnitState{}, f.err
}
func (f fakeSystemd) ListUnits(context.Context, string) ([]string, error) { return nil, f.err }

type fakeRkt struct {
	calls int
	err   error
}

func (f *fakeRkt) RemovePod(context.Context, string) error { return nil }

// The app commands are not used by the tests that take a fakeRkt.
var errNoApps = errors.New("fakeRkt runs no apps")

func (f *fakeRkt) AppAdd(context.Context, string, string, cli.AppAddOptions) error { return errNoApps }
func (f *fakeRkt) AppStart(context.Context, string, string) error                  { return errNoApps }
func (f *fakeRkt) AppStop(context.Context, string, string) error                   { return errNoApps }
func (f *fakeRkt) AppRemove(context.Context, string, string) error                 { return errNoApps }
func (f *fakeRkt) Enter(context.Context, string, string, cli.EnterUser, []string, int) ([]byte, []byte, int, error) {
	return nil, nil, 0, errNoApps
}
func (f *fakeRkt) EnterCommand(ctx context.Context, _, _ string, _ cli.EnterUser, _ []string) *exec.Cmd {
	return exec.CommandContext(ctx, "false")
}

func (f *fakeRkt) Version(context.Context) (cli.Version, error) {
	f.calls++
	if f.err != nil {
		return cli.Version{}, f.err
	}
	return cli.Version{Rkt: "1.30.0"}, nil
}

type fakeNetwork struct{ err error }

func (f fakeNetwork) Setup(context.Context, network.Pod) ([]string, error) {
	return []string{"10.0.0.2"}, f.err
}
func (f fakeNetwork) Teardown(context.Context, network.Pod) error { return f.err }

func (f fakeNetwork) LoadNetwork() (*libcni.NetworkConfigList, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &libcni.NetworkConfigList{Name: "test"}, nil
}

// statusFixture makes a config whose rkt binary and stage1 image exist.
func statusFixture(t *testing.T) config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.RktPath = filepath.Join(dir, "rkt")
	cfg.Stage1Path = filepath.Join(dir, "stage1-host.aci")
	if err := os.WriteFile(cfg.RktPath, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Stage1Path, []byte{0x1f, 0x8b, 8, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func conditions(t *testing.T, s *Service) map[string]*runtimeapi.RuntimeCondition {
	t.Helper()
	resp, err := s.Status(context.Background(), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*runtimeapi.RuntimeCondition{}
	for _, c := range resp.GetStatus().GetConditions() {
		out[c.Type] = c
	}
	if len(out) != 2 {
		t.Fatalf("want 2 conditions, got %v", resp.GetStatus().GetConditions())
	}
	return out
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestStatusReady(t *testing.T) {
	cfg := statusFixture(t)
	rkt := &fakeRkt{}
	s := New(Deps{Config: cfg, Log: quiet, Systemd: fakeSystemd{}, Rkt: rkt, Network: fakeNetwork{}})
	c := conditions(t, s)
	if got := c[runtimeapi.RuntimeReady]; got.Status || got.Reason != reasonRecovering {
		t.Fatalf("RuntimeReady before recovery = %v, want false with reason %s", got, reasonRecovering)
	}
	s.recovered.Store(true)
	c = conditions(t, s)
	if !c[runtimeapi.RuntimeReady].Status || !c[runtimeapi.NetworkReady].Status {
		t.Fatalf("not ready: %v", c)
	}
	conditions(t, s)
	if rkt.calls != 1 { // Status ran three times
		t.Fatalf("rkt version ran %d times for an unchanged binary, want 1", rkt.calls)
	}
}

func TestStatusNotReady(t *testing.T) {
	for _, tc := range []struct {
		name        string
		mutate      func(*config.Config)
		systemd     error
		rkt         error
		network     error
		condition   string
		reason      string
		messageHas  string
		otherIsTrue bool
	}{
		{name: "systemd unreachable", systemd: errors.New("dial unix /run/dbus/system_bus_socket: no such file"),
			condition: runtimeapi.RuntimeReady, reason: reasonSystemdUnreachable, messageHas: "system_bus_socket", otherIsTrue: true},
		{name: "rkt missing", mutate: func(c *config.Config) { c.RktPath = "/nonexistent/rkt" },
			condition: runtimeapi.RuntimeReady, reason: reasonRktUnusable, messageHas: "/nonexistent/rkt", otherIsTrue: true},
		{name: "rkt does not run", rkt: errors.New("exec format error"),
			condition: runtimeapi.RuntimeReady, reason: reasonRktUnusable, messageHas: "exec format error", otherIsTrue: true},
		{name: "stage1 missing", mutate: func(c *config.Config) { c.Stage1Path = "/nonexistent/stage1-host.aci" },
			condition: runtimeapi.RuntimeReady, reason: reasonStage1Unusable, messageHas: "/nonexistent/stage1-host.aci", otherIsTrue: true},
		{name: "stage1 not an image", mutate: func(c *config.Config) {
			_ = os.WriteFile(c.Stage1Path, []byte("hello"), 0o644)
		}, condition: runtimeapi.RuntimeReady, reason: reasonStage1Unusable, messageHas: "not an ACI", otherIsTrue: true},
		{name: "no CNI config", network: errors.New("no CNI network config in /etc/cni/net.d"),
			condition: runtimeapi.NetworkReady, reason: reasonNetworkNotReady, messageHas: "/etc/cni/net.d", otherIsTrue: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := statusFixture(t)
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			s := New(Deps{Config: cfg, Log: quiet, Systemd: fakeSystemd{err: tc.systemd}, Rkt: &fakeRkt{err: tc.rkt}, Network: fakeNetwork{err: tc.network}})
			s.recovered.Store(true)
			c := conditions(t, s)
			got := c[tc.condition]
			if got.Status || got.Reason != tc.reason || !strings.Contains(got.Message, tc.messageHas) {
				t.Fatalf("%s = %v, want false with reason %s and %q in the message", tc.condition, got, tc.reason, tc.messageHas)
			}
			other := runtimeapi.NetworkReady
			if tc.condition == runtimeapi.NetworkReady {
				other = runtimeapi.RuntimeReady
			}
			if c[other].Status != tc.otherIsTrue {
				t.Fatalf("%s = %v", other, c[other])
			}
		})
	}
}

func TestStatusVerboseHasConfig(t *testing.T) {
	cfg := statusFixture(t)
	s := New(Deps{Config: cfg, Log: quiet, Systemd: fakeSystemd{}, Rkt: &fakeRkt{}, Network: fakeNetwork{}})
	resp, err := s.Status(context.Background(), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var got config.Config
	if err := json.Unmarshal([]byte(resp.Info["config"]), &got); err != nil {
		t.Fatalf("config info %q: %v", resp.Info["config"], err)
	}
	if got.RktPath != cfg.RktPath || got.Socket != cfg.Socket {
		t.Fatalf("verbose config %+v, want %+v", got, cfg)
	}
}

func TestVersion(t *testing.T) {
	cfg := statusFixture(t)
	s := New(Deps{Config: cfg, Log: quiet, Systemd: fakeSystemd{}, Rkt: &fakeRkt{}, Network: fakeNetwork{}})
	v, err := s.Version(context.Background(), &runtimeapi.VersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.RuntimeName != "rktlet" || v.RuntimeApiVersion != "v1" || !strings.HasSuffix(v.RuntimeVersion, "+rkt.1.30.0") {
		t.Fatalf("version %+v", v)
	}
}

func TestImageFsInfo(t *testing.T) {
	cfg := statusFixture(t)
	cfg.RktDataDir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(cfg.RktDataDir, "cas", "blob"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.RktDataDir, "cas", "blob", "x"), make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Config: cfg, Log: quiet, Systemd: fakeSystemd{}, Rkt: &fakeRkt{}, Network: fakeNetwork{}})
	resp, err := s.ImageFsInfo(context.Background(), &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ImageFilesystems) != 1 || len(resp.ContainerFilesystems) != 1 {
		t.Fatalf("got %v", resp)
	}
	img := resp.ImageFilesystems[0]
	if img.UsedBytes.Value < 8192 || img.InodesUsed.Value != 3 || img.FsId.Mountpoint == "" || img.Timestamp == 0 {
		t.Fatalf("image filesystem %v, want ≥ 8192 bytes, 3 inodes, a mountpoint", img)
	}
	if pods := resp.ContainerFilesystems[0]; pods.InodesUsed.Value != 0 {
		t.Fatalf("pods filesystem %v, want empty", pods)
	}
}
