// Package stage1 is a running rkt pod seen from the host: where its stage1
// keeps its files, the apps' status files (an inotify-fed copy), the pod
// journal's directory and the pod's readiness for apps.
package stage1

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Pods finds the stage1 files of the pods in one rkt data directory.
type Pods struct {
	dataDir string
	files   *statusFiles
}

// NewPods watches the pods of the rkt data directory dataDir.
func NewPods(dataDir string, log *slog.Logger) *Pods {
	return &Pods{dataDir: dataDir, files: newStatusFiles(log)}
}

// Close stops watching.
func (p *Pods) Close() error { return p.files.Close() }

// Root is the root of a pod's stage1 as rktlet reads it: the overlay's
// upper layer (readable from any mount namespace and after the pod
// stopped), or the stage1 rootfs itself when the pod runs without overlay.
// Stage1 keeps its apps' status files (rkt/status) and the pod's persistent
// journal (var/log/journal) there.
func (p *Pods) Root(uuid string) (string, error) {
	if uuid == "" {
		return "", errors.New("pod has no rkt UUID")
	}
	for _, where := range []string{"run", "exited-garbage", "garbage"} {
		pod := filepath.Join(p.dataDir, "pods", where, uuid)
		if _, err := os.Stat(pod); err != nil {
			continue
		}
		if tree, err := os.ReadFile(filepath.Join(pod, "stage1TreeStoreID")); err == nil {
			dir := filepath.Join(pod, "overlay", strings.TrimSpace(string(tree)), "upper")
			if _, err := os.Stat(filepath.Join(pod, "overlay-prepared")); err == nil {
				return dir, nil
			}
		}
		return filepath.Join(pod, "stage1", "rootfs"), nil
	}
	return "", fmt.Errorf("rkt pod %s not found", uuid)
}

// statusDir is where stage1 writes its apps' status files.
func (p *Pods) statusDir(uuid string) (string, error) {
	if dir, ok := p.files.dirOf(uuid); ok {
		return dir, nil
	}
	root, err := p.Root(uuid)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "rkt", "status")
	p.files.remember(uuid, dir)
	return dir, nil
}

// JournalDir is where the pod's journald keeps its persistent journal
// (rkt patch 0007).
func (p *Pods) JournalDir(uuid string) (string, error) {
	root, err := p.Root(uuid)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "var", "log", "journal"), nil
}

// SupervisorReady tells whether the pod's stage1 accepts apps: its
// supervisor-ready unit has linked rkt/supervisor-status to "ready", which
// can come a moment after nspawn said the pod is up.
func (p *Pods) SupervisorReady(uuid string) bool {
	dir, err := p.statusDir(uuid)
	if err != nil {
		return false
	}
	target, err := os.Readlink(filepath.Join(filepath.Dir(dir), "supervisor-status"))
	return err == nil && target == "ready"
}

// AppFiles are an app's status files as stage1 wrote them.
type AppFiles struct {
	// Started is there once the app's process ran.
	Started    StatusFile
	HasStarted bool
	// Exited is there once the app's reaper began to write its exit code.
	Exited    StatusFile
	HasExited bool
}

// App reads an app's status files.
func (p *Pods) App(uuid, app string) (AppFiles, error) {
	dir, err := p.statusDir(uuid)
	if err != nil {
		return AppFiles{}, err
	}
	var f AppFiles
	f.Started, f.HasStarted = p.files.get(dir, app+"-started")
	f.Exited, f.HasExited = p.files.exitFile(dir, app)
	return f, nil
}

// SyncApp brings the copy of an app's status files up to date with the
// disk at once. StartContainer calls it before it answers: the inotify
// event of the -started file may still be on its way, and a status asked
// for right after the start must not say CREATED.
func (p *Pods) SyncApp(uuid, app string) {
	dir, err := p.statusDir(uuid)
	if err != nil {
		return
	}
	p.files.refresh(dir, app+"-started", app)
}

// Changes is closed at the next change of the pod's status files; nil when
// they are not watched (the caller polls).
func (p *Pods) Changes(uuid string) <-chan struct{} {
	dir, err := p.statusDir(uuid)
	if err != nil {
		return nil
	}
	return p.files.changes(dir)
}

// Forget stops watching a removed pod.
func (p *Pods) Forget(uuid string) { p.files.forget(uuid) }
