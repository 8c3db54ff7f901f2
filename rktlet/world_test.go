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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/config"
	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/image"
	"github.com/rktlet/rktlet/internal/cgroups"
	"github.com/rktlet/rktlet/journal"
	"github.com/rktlet/rktlet/network"
	"github.com/rktlet/rktlet/systemd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// world is a Service on fakes that do to the file system what systemd,
// rkt and stage1 do, so that every RPC runs its real code: a started pod
// unit writes the rkt UUID where `--uuid-file-save` says and links stage1's
// supervisor-status to ready; `rkt app start` writes the app's -started
// file; a signal or a kill through the app's cgroup, or `rkt app stop`,
// writes the exit code as the app's reaper does. A container whose command
// is `true` exits 0 at once, any other runs until it is stopped.
type world struct {
	t       *testing.T
	s       *Service
	dataDir string // rkt's
	sd      *podSystemd
	rkt     *podRkt
	apps    *podApps
	limits  *recordingLimiter
	logs    *recordingLogs
	net     *recordingNetwork
	images  *fakeImages
	stage1  *fakeStage1
}

// newWorld is a recovered Service on an empty state directory.
func newWorld(t *testing.T) *world {
	t.Helper()
	cfg := statusFixture(t)
	cfg.StateDir = t.TempDir()
	cfg.RktDataDir = t.TempDir()
	w := &world{t: t, dataDir: cfg.RktDataDir}
	w.sd = &podSystemd{w: w, units: map[string]*fakeUnit{}}
	w.rkt = &podRkt{w: w, added: map[string]cli.AppAddOptions{}}
	w.apps = &podApps{w: w}
	w.limits = &recordingLimiter{}
	w.logs = &recordingLogs{files: map[string]string{}}
	w.net = &recordingNetwork{}
	w.images = &fakeImages{byName: map[string]image.Image{}}
	w.stage1 = &fakeStage1{id: "sha512-57a9e1"}
	w.addImage("busybox:latest", "")
	w.s = w.restart(cfg)
	return w
}

// restart makes a new Service on the same state, as a restarted rktlet.
func (w *world) restart(cfg config.Config) *Service {
	w.t.Helper()
	s := New(Deps{Config: cfg, Log: quiet, Systemd: w.sd, Rkt: w.rkt, Network: w.net, Images: w.images, Stage1: w.stage1, Logs: w.logs})
	s.appCgroups, s.limits = w.apps, w.limits
	if err := s.Recover(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = s.pods.Close() })
	return s
}

// addImage makes an image the fake store has, with an (empty) ACI in rkt's
// store for its accounts.
func (w *world) addImage(name, user string) image.Image {
	w.t.Helper()
	sum := make([]byte, 32)
	_, _ = rand.Read(sum)
	aci := "sha512-" + hex.EncodeToString(sum)
	path := filepath.Join(w.dataDir, "cas", "blob", "sha512", aci[7:9], aci)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		w.t.Fatal(err)
	}
	img := image.Image{ID: "sha256:" + hex.EncodeToString(sum), RepoTags: []string{name}, User: user, Cmd: []string{"sh"}, ACIs: []string{aci}}
	w.images.mu.Lock()
	w.images.byName[name] = img
	w.images.mu.Unlock()
	return img
}

func podConfig(name string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: name + "-uid"},
		Labels:   map[string]string{"app": name},
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
		}},
	}
}

func containerConfig(name string, command ...string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: "busybox:latest"},
		Command:  command,
		Labels:   map[string]string{"container": name},
	}
}

func (w *world) runPod(name string) (string, *runtimeapi.PodSandboxConfig) {
	w.t.Helper()
	cfg := podConfig(name)
	resp, err := w.s.RunPodSandbox(context.Background(), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.GetPodSandboxId(), cfg
}

func (w *world) createContainer(podID string, podCfg *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) string {
	w.t.Helper()
	resp, err := w.s.CreateContainer(context.Background(), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.GetContainerId()
}

func (w *world) containerState(id string) *runtimeapi.ContainerStatus {
	w.t.Helper()
	resp, err := w.s.ContainerStatus(context.Background(), &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.GetStatus()
}

func (w *world) podState(id string) runtimeapi.PodSandboxState {
	w.t.Helper()
	resp, err := w.s.PodSandboxStatus(context.Background(), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.GetStatus().GetState()
}

// statusDir is where stage1 keeps the apps' status files of a pod.
func (w *world) statusDir(uuid string) string {
	return filepath.Join(w.dataDir, "pods", "run", uuid, "stage1", "rootfs", "rkt", "status")
}

// exit writes an app's exit code as its reaper does, once.
func (w *world) exit(uuid, app string, code int) error {
	path := filepath.Join(w.statusDir(uuid), app)
	if _, err := os.Stat(filepath.Join(w.statusDir(uuid), app+"-started")); err != nil {
		return fmt.Errorf("app %s has not started", app)
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("app %s has exited", app)
	}
	return os.WriteFile(path, []byte(strconv.Itoa(code)), 0o644)
}

func (w *world) running(uuid, app string) bool {
	_, started := os.Stat(filepath.Join(w.statusDir(uuid), app+"-started"))
	_, exited := os.Stat(filepath.Join(w.statusDir(uuid), app))
	return started == nil && exited != nil
}

// podSystemd runs pod units as far as rktlet sees them.
type podSystemd struct {
	w        *world
	mu       sync.Mutex
	units    map[string]*fakeUnit
	startErr error
	stops    []string
	// duringStop, when set, runs inside StopUnit, as a unit's stop job
	// that takes a while.
	duringStop func()
}

type fakeUnit struct {
	active bool
	env    []string
	props  map[string]any
}

var uuidFileFlag = regexp.MustCompile(`--uuid-file-save=(\S+?)[\s\]}]`)

func (f *podSystemd) Version(context.Context) (string, error) { return "252", nil }

func (f *podSystemd) StartTransientUnit(_ context.Context, name string, props []systemd.Property) error {
	if f.startErr != nil {
		return f.startErr
	}
	u := &fakeUnit{active: true, props: map[string]any{}}
	for _, p := range props {
		u.props[p.Name] = p.Value.Value()
	}
	u.env, _ = u.props["Environment"].([]string)
	m := uuidFileFlag.FindStringSubmatch(fmt.Sprint(u.props["ExecStart"]))
	if m == nil {
		return fmt.Errorf("ExecStart %v has no --uuid-file-save", u.props["ExecStart"])
	}
	sum := make([]byte, 16)
	_, _ = rand.Read(sum)
	uuid := hex.EncodeToString(sum)
	status := f.w.statusDir(uuid)
	if err := os.MkdirAll(status, 0o755); err != nil {
		return err
	}
	if err := os.Symlink("ready", filepath.Join(filepath.Dir(status), "supervisor-status")); err != nil {
		return err
	}
	if err := os.WriteFile(m[1], []byte(uuid), 0o644); err != nil {
		return err
	}
	f.mu.Lock()
	f.units[name] = u
	f.mu.Unlock()
	return nil
}

// StopUnit stops a unit; a transient unit is gone once stopped.
func (f *podSystemd) StopUnit(_ context.Context, name string) error {
	f.mu.Lock()
	during := f.duringStop
	f.mu.Unlock()
	if during != nil {
		during()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, name)
	delete(f.units, name)
	return nil
}

func (f *podSystemd) ResetFailed(context.Context, string) error { return nil }

func (f *podSystemd) State(_ context.Context, name string) (systemd.UnitState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.units[name]
	if !ok {
		return systemd.UnitState{ActiveState: "inactive", SubState: "dead"}, nil
	}
	st := systemd.UnitState{ActiveState: "inactive", Environment: u.env}
	if u.active {
		st.ActiveState, st.SubState = "active", "running"
	}
	return st, nil
}

func (f *podSystemd) ListUnits(_ context.Context, pattern string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for name := range f.units {
		if ok, _ := filepath.Match(pattern, name); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// stopped says whether rktlet stopped a unit.
func (f *podSystemd) stopped(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.stops, name)
}

// podRkt is rkt's app commands on the fake pods.
type podRkt struct {
	w       *world
	mu      sync.Mutex
	added   map[string]cli.AppAddOptions // app → options
	removed []string                     // apps, and "pod:<uuid>"
	addErr  error
}

func (f *podRkt) Version(context.Context) (cli.Version, error) {
	return cli.Version{Rkt: "1.30.0"}, nil
}

func (f *podRkt) RemovePod(_ context.Context, uuid string) error {
	f.mu.Lock()
	f.removed = append(f.removed, "pod:"+uuid)
	f.mu.Unlock()
	return os.RemoveAll(filepath.Join(f.w.dataDir, "pods", "run", uuid))
}

func (f *podRkt) AppAdd(_ context.Context, uuid, _ string, o cli.AppAddOptions) error {
	if f.addErr != nil {
		return f.addErr
	}
	if _, err := os.Stat(f.w.statusDir(uuid)); err != nil {
		return fmt.Errorf("no pod %s: %w", uuid, err)
	}
	// stage1 writes the app's unit (its seccomp filter, when it has one).
	units := filepath.Join(f.w.dataDir, "pods", "run", uuid, "stage1", "rootfs", "usr", "lib", "systemd", "system")
	if err := os.MkdirAll(units, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(units, o.Name+".service"), []byte("[Service]\nExecStart=/app\n"), 0o644); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added[o.Name] = o
	return nil
}

func (f *podRkt) options(app string) (cli.AppAddOptions, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.added[app]
	return o, ok
}

func (f *podRkt) AppStart(_ context.Context, uuid, app string) error {
	o, ok := f.options(app)
	if !ok {
		return fmt.Errorf("app %s was not added", app)
	}
	if err := os.WriteFile(filepath.Join(f.w.statusDir(uuid), app+"-started"), nil, 0o644); err != nil {
		return err
	}
	if len(o.Exec) > 0 && o.Exec[0] == "true" {
		return f.w.exit(uuid, app, 0)
	}
	return nil
}

func (f *podRkt) AppStop(_ context.Context, uuid, app string) error {
	return f.w.exit(uuid, app, 128+int(syscall.SIGTERM))
}

func (f *podRkt) AppRemove(_ context.Context, uuid, app string) error {
	f.mu.Lock()
	f.removed = append(f.removed, app)
	delete(f.added, app)
	f.mu.Unlock()
	for _, name := range []string{app, app + "-started"} {
		if err := os.Remove(filepath.Join(f.w.statusDir(uuid), name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (f *podRkt) Enter(_ context.Context, uuid, app string, _ cli.EnterUser, command []string, _ int) ([]byte, []byte, int, error) {
	if !f.w.running(uuid, app) {
		return nil, nil, 0, fmt.Errorf("app %s is not running", app)
	}
	return []byte(strings.Join(command, " ")), nil, 0, nil
}

func (f *podRkt) EnterCommand(ctx context.Context, _, _ string, _ cli.EnterUser, command []string) *exec.Cmd {
	return exec.CommandContext(ctx, "echo", command...)
}

// podApps finds an app's process (this test's) while it runs, and stops it
// as a signal through its cgroup would.
type podApps struct {
	w       *world
	mu      sync.Mutex
	signals []string
}

var errNoCgroups = errors.New("the fake pods have no cgroups")

func (f *podApps) Path(context.Context, string, string) (string, error) { return "", errNoCgroups }
func (f *podApps) ContainerPath(context.Context, string, string) (string, error) {
	return "", errNoCgroups
}
func (f *podApps) PodInitPID(context.Context, string) (int, error) { return os.Getpid(), nil }
func (f *podApps) MuxRunning(context.Context, string, string) bool { return false }
func (f *podApps) Forget(string)                                   {}

// uuidOf is the rkt pod of a unit.
func (f *podApps) uuidOf(unit string) string {
	id := strings.TrimSuffix(strings.TrimPrefix(unit, "rktlet-pod-"), ".service")
	b, _ := os.ReadFile(f.w.s.uuidFile(id))
	return strings.TrimSpace(string(b))
}

func (f *podApps) RunningPID(_ context.Context, unit, app string, _ int) (int, error) {
	if f.w.running(f.uuidOf(unit), app) {
		return os.Getpid(), nil
	}
	return 0, fmt.Errorf("app %s has no process", app)
}

func (f *podApps) PIDs(_ context.Context, unit, app string) ([]int, error) {
	if f.w.running(f.uuidOf(unit), app) {
		return []int{os.Getpid()}, nil
	}
	return nil, nil
}

func (f *podApps) Signal(_ context.Context, unit, app string, sig syscall.Signal) error {
	f.mu.Lock()
	f.signals = append(f.signals, fmt.Sprintf("%s %d", app, sig))
	f.mu.Unlock()
	return f.w.exit(f.uuidOf(unit), app, 128+int(sig))
}

func (f *podApps) Kill(ctx context.Context, unit, app string) error {
	if !f.w.running(f.uuidOf(unit), app) {
		return nil
	}
	return f.Signal(ctx, unit, app, syscall.SIGKILL)
}

// recordingLimiter enforces nothing and remembers what it was asked.
type recordingLimiter struct {
	mu       sync.Mutex
	prepared []string
	released []string
	updated  map[string]*runtimeapi.LinuxContainerResources
}

func (l *recordingLimiter) NotEnforced(*runtimeapi.LinuxContainerResources) []string { return nil }
func (l *recordingLimiter) Prepare(_ context.Context, _ cgroups.Pod, app string, _ *runtimeapi.LinuxContainerResources) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prepared = append(l.prepared, app)
	return nil
}
func (l *recordingLimiter) Dirs(context.Context, cgroups.Pod, string) (map[string]string, error) {
	return nil, nil
}
func (l *recordingLimiter) Start(_ context.Context, _ cgroups.Pod, _ string, _ map[string]string, _ *runtimeapi.LinuxContainerResources, start func() error) error {
	return start()
}
func (l *recordingLimiter) Update(_ context.Context, _ cgroups.Pod, app string, _ map[string]string, r *runtimeapi.LinuxContainerResources) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.updated == nil {
		l.updated = map[string]*runtimeapi.LinuxContainerResources{}
	}
	l.updated[app] = r
	return nil
}
func (l *recordingLimiter) OOMKilled(cgroups.Pod, string, string, map[string]string) bool {
	return false
}
func (l *recordingLimiter) Release(_ context.Context, _ cgroups.Pod, id, _ string, _ map[string]string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released = append(l.released, id)
	return nil
}
func (l *recordingLimiter) Recover(context.Context, cgroups.Pod) {}

func (l *recordingLimiter) wasReleased(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.released, id)
}

// recordingLogs ships nothing: it keeps which log file each container has.
type recordingLogs struct {
	mu       sync.Mutex
	files    map[string]string // container → log path
	followed []string
	finished []string
	reopened []string
}

func (l *recordingLogs) FollowPod(podID string, _ func() (string, error), cs []journal.Container) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.followed = append(l.followed, podID)
	for _, c := range cs {
		l.files[c.ID] = c.Path
	}
}
func (l *recordingLogs) AddContainer(_ string, c journal.Container) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.files[c.ID] = c.Path
	return nil
}
func (l *recordingLogs) RemoveContainer(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.files, id)
}
func (l *recordingLogs) Reopen(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.files[id]; !ok {
		return journal.ErrUnknownContainer
	}
	l.reopened = append(l.reopened, id)
	return nil
}
func (l *recordingLogs) WaitDrained(context.Context, string, time.Time) bool { return true }
func (l *recordingLogs) Problem(string) string                               { return "" }
func (l *recordingLogs) PodStopped(string)                                   {}

func (l *recordingLogs) FinishPod(podID string, _ time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.finished = append(l.finished, podID)
}

// recordingNetwork networks nothing and counts its calls.
type recordingNetwork struct {
	fakeNetwork
	mu        sync.Mutex
	teardowns int
}

func (n *recordingNetwork) Teardown(context.Context, network.Pod) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.teardowns++
	return nil
}

func (n *recordingNetwork) teardownCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.teardowns
}

// fakeStage1 is a stage1 image stored as id, or one that does not import.
type fakeStage1 struct {
	id  string
	err error
}

func (f *fakeStage1) ID(context.Context) (string, error) { return f.id, f.err }

// fakeImages is an image store of images added by name.
type fakeImages struct {
	mu     sync.Mutex
	byName map[string]image.Image
}

func (f *fakeImages) Pull(_ context.Context, ref string, _ *image.Auth) (image.Image, error) {
	return f.Get(ref)
}

func (f *fakeImages) Get(name string) (image.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img, ok := f.byName[name]; ok {
		return img, nil
	}
	for _, img := range f.byName {
		if img.ID == name {
			return img, nil
		}
	}
	return image.Image{}, fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
}

func (f *fakeImages) List() []image.Image {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []image.Image
	for _, img := range f.byName {
		out = append(out, img)
	}
	return out
}

func (f *fakeImages) Remove(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byName, name)
	return nil
}
