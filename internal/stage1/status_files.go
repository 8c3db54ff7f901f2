package stage1

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rktlet/rktlet/internal/panics"

	"github.com/fsnotify/fsnotify"
)

// statusFiles is an in-memory copy of the status files stage1 keeps for
// each pod's apps (rkt/status: <app>-created, <app>-started, and <app> with
// the exit code), kept current by inotify events on every pod's status
// directory. Container states come from these files (see the state machine
// in internal/store/containers.go); with the copy, List and Status read memory rather
// than a few files per container per call, and a Stop waiting for the exit
// is woken by the write instead of polling.
//
// inotify rather than the pod systemd's D-Bus signals: the files are what
// stage1 commits (the exit code is written by the app's reaper after the
// unit stopped), they survive rktlet and systemd restarts, and one
// descriptor covers every pod. Stage1 writes through the pod's overlay into
// the upper directory rktlet watches: overlayfs makes the files there, which
// inotify reports, but writes to them through files it opened without
// notification, which it does not. The one file written after it is made,
// an app's exit code, is read again from disk while its copy is empty
// (exitFile).
//
// A directory is watched from the first time it is read; one that cannot be
// watched (not there yet, inotify limits) is read from disk on each call,
// as is everything after the kernel dropped events (queue overflow) until
// it is read again.
type statusFiles struct {
	log     *slog.Logger
	watcher *fsnotify.Watcher // nil: inotify unavailable, always read from disk

	mu   sync.Mutex
	dirs map[string]*statusDir
	// pods maps a pod's rkt UUID to its status directory, which takes a
	// few file system lookups to find.
	pods map[string]string
}

type statusDir struct {
	files map[string]StatusFile
	// changed is closed and replaced on every change in the directory.
	changed chan struct{}
}

// StatusFile is what rktlet reads of one status file.
type StatusFile struct {
	ModTime time.Time
	Content string // the exit code files only
}

func newStatusFiles(log *slog.Logger) *statusFiles {
	f := &statusFiles{log: log, dirs: map[string]*statusDir{}, pods: map[string]string{}}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("inotify unavailable: container states are read from stage1's files on each call", "error", err)
		return f
	}
	f.watcher = w
	go f.follow()
	return f
}

// Close stops watching.
func (f *statusFiles) Close() error {
	if f.watcher == nil {
		return nil
	}
	return f.watcher.Close()
}

// dirOf returns the status directory remembered for a pod while it is
// watched: one that went or moved is looked up again.
func (f *statusFiles) dirOf(uuid string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir, ok := f.pods[uuid]
	if !ok {
		return "", false
	}
	if _, watched := f.dirs[dir]; !watched {
		delete(f.pods, uuid)
		return "", false
	}
	return dir, true
}

// remember records a pod's status directory.
func (f *statusFiles) remember(uuid, dir string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods[uuid] = dir
}

// get returns the status file name in dir, watching dir from now on if it
// is not yet.
func (f *statusFiles) get(dir, name string) (StatusFile, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, sf, ok := f.getLocked(dir, name)
	return sf, ok
}

// getLocked returns the file from dir's copy, or from disk (and no copy)
// when dir cannot be watched.
func (f *statusFiles) getLocked(dir, name string) (*statusDir, StatusFile, bool) {
	d := f.watchedLocked(dir)
	if d == nil {
		sf, ok := readStatusFile(filepath.Join(dir, name))
		return nil, sf, ok
	}
	sf, ok := d.files[name]
	return d, sf, ok
}

// exitFile returns an app's exit file: as get, but a copy that has no
// code yet is read again from disk (no event tells when the reaper wrote
// it), and a code found so is kept and announced.
func (f *statusFiles) exitFile(dir, name string) (StatusFile, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, sf, ok := f.getLocked(dir, name)
	if d != nil && ok && strings.TrimSpace(sf.Content) == "" {
		if fresh, found := readStatusFile(filepath.Join(dir, name)); found && strings.TrimSpace(fresh.Content) != "" {
			d.files[name] = fresh
			close(d.changed)
			d.changed = make(chan struct{})
			return fresh, true
		}
	}
	return sf, ok
}

// refresh reads names from disk into dir's copy, for a caller that knows
// they changed and must not wait for the event: the event comes later and
// finds the copy current.
func (f *statusFiles) refresh(dir string, names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.watchedLocked(dir)
	if d == nil {
		return
	}
	changed := false
	for _, name := range names {
		sf, ok := readStatusFile(filepath.Join(dir, name))
		old, had := d.files[name]
		switch {
		case ok && (!had || old.Content != sf.Content || !old.ModTime.Equal(sf.ModTime)):
			d.files[name] = sf
			changed = true
		case !ok && had:
			delete(d.files, name)
			changed = true
		}
	}
	if changed {
		close(d.changed)
		d.changed = make(chan struct{})
	}
}

// changes returns a channel closed at the next change in dir, nil when dir
// is not watched (the caller polls).
func (f *statusFiles) changes(dir string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := f.watchedLocked(dir); d != nil {
		return d.changed
	}
	return nil
}

// watchedLocked returns dir's copy, starting to watch it if needed; nil when
// it cannot be watched.
func (f *statusFiles) watchedLocked(dir string) *statusDir {
	if d, ok := f.dirs[dir]; ok {
		return d
	}
	if f.watcher == nil {
		return nil
	}
	// Watch first, then read: a change during the read is reported after
	// it and read again (events are handled under f.mu, after this).
	if err := f.watcher.Add(dir); err != nil {
		if !os.IsNotExist(err) {
			f.log.Debug("not watching a pod's status files", "dir", dir, "error", err)
		}
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		_ = f.watcher.Remove(dir)
		return nil
	}
	d := &statusDir{files: map[string]StatusFile{}, changed: make(chan struct{})}
	for _, e := range entries {
		if sf, ok := readStatusFile(filepath.Join(dir, e.Name())); ok {
			d.files[e.Name()] = sf
		}
	}
	f.dirs[dir] = d
	return d
}

// forget stops watching a pod's status directory (the pod is being
// removed).
func (f *statusFiles) forget(uuid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir, ok := f.pods[uuid]
	if !ok {
		return
	}
	delete(f.pods, uuid)
	if d, ok := f.dirs[dir]; ok {
		close(d.changed)
		delete(f.dirs, dir)
		if f.watcher != nil {
			_ = f.watcher.Remove(dir)
		}
	}
}

func (f *statusFiles) follow() {
	// A panic here may leave the index's lock held or a directory's files
	// half read; a restarted rktlet reads every status directory anew.
	defer panics.Exit("the inotify loop of container states")
	for {
		select {
		case ev, ok := <-f.watcher.Events:
			if !ok {
				return
			}
			f.apply(ev)
		case err, ok := <-f.watcher.Errors:
			if !ok {
				return
			}
			// Events were lost (queue overflow): every copy may be stale,
			// so all are read again when next asked for.
			f.log.Warn("inotify on stage1 status files", "error", err)
			f.mu.Lock()
			for dir, d := range f.dirs {
				close(d.changed)
				delete(f.dirs, dir)
			}
			f.mu.Unlock()
		}
	}
}

func (f *statusFiles) apply(ev fsnotify.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.dirs[ev.Name]; ok && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		// The directory itself went (pod removed) or moved (garbage
		// collected): its next reader looks it up afresh.
		close(d.changed)
		delete(f.dirs, ev.Name)
		return
	}
	dir, name := filepath.Split(ev.Name)
	dir = filepath.Clean(dir)
	d, ok := f.dirs[dir]
	if !ok {
		return
	}
	if sf, ok := readStatusFile(ev.Name); ok {
		d.files[name] = sf
	} else {
		delete(d.files, name)
	}
	close(d.changed)
	d.changed = make(chan struct{})
}

// readStatusFile reads one status file from disk: its time, and its content
// when it is small (the exit code files; the others are empty).
func readStatusFile(path string) (StatusFile, bool) {
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() {
		return StatusFile{}, false
	}
	sf := StatusFile{ModTime: fi.ModTime()}
	if fi.Size() > 0 && fi.Size() < 64 {
		if b, err := os.ReadFile(path); err == nil {
			sf.Content = string(b)
		}
	}
	return sf, true
}
