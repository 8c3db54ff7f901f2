package journal

import (
	"bytes"
	"encoding/json"
	"github.com/rktlet/rktlet/internal/panics"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/sdjournal"

	"github.com/rktlet/rktlet/internal/atomicfile"
	"github.com/rktlet/rktlet/internal/metrics"
)

const (
	// checkpointEvery bounds how long written lines stay without a
	// checkpoint (and buffered lines unwritten) while entries keep coming.
	checkpointEvery = 100 * time.Millisecond
	// waitSlice is how long one wait for new entries lasts while the pod
	// is quiet: a stop request is noticed within it.
	waitSlice = 200 * time.Millisecond
	// busyPoll is how often the journal is looked at while entries keep
	// coming: journald tells readers of new entries (inotify) at most every
	// 250 ms, far too late for a log line, so a busy pod's journal is
	// polled instead (a look at an unchanged journal costs microseconds).
	busyPoll = 10 * time.Millisecond
	// busyFor is how long a pod counts as busy after its last entry.
	busyFor = 2 * time.Second
)

// Container is one container whose output a pod follower writes.
type Container struct {
	ID string
	// App is the rkt app name, the entries' SYSLOG_IDENTIFIER.
	App string
	// Path is the CRI log file.
	Path string
	// Dir is the pod's log directory, which Path must lie in; the file is
	// opened only beneath it. Empty: Path is opened as it is.
	Dir string
	// Streams are the streams the app writes (stdout and stderr, or only
	// stdout for a terminal).
	Streams []string
}

// checkpoint is what a pod follower persists: the journal cursor of the
// last entry written and, for each file, its size right after that entry.
// Both are saved together, so a restart can cut every file back to the
// cursor and read on from there: no line is lost or written twice.
type checkpoint struct {
	Cursor string              `json:"cursor"`
	Files  map[string]fileMark `json:"files"`
}

type fileMark struct {
	Path string `json:"path"`
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
	Size int64  `json:"size"`
}

// podFollower reads one pod's journal and writes each known container's
// lines to its file. Only its goroutine touches the journal; mu guards the
// sinks and the last checkpoint, which RPCs change too.
type podFollower struct {
	podID          string
	locate         func() (string, error)
	checkpointPath string
	log            *slog.Logger

	mu     sync.Mutex
	sinks  map[string]*sink // by app name
	byID   map[string]*sink
	saved  checkpoint // the last checkpoint written
	resume checkpoint // read at start, used once
	// newest is the time of the newest journal entry handled: its age
	// when lines are written is the follower's lag (metrics.LogLag).
	newest time.Time

	stop     chan struct{} // ends the follower at once
	finish   chan struct{} // ends it once the journal is read to its end
	done     chan struct{}
	stopOnce sync.Once
	// journalDir is the directory the follower reads, once it opened it.
	journalDir string
}

func newPodFollower(podID string, locate func() (string, error), checkpointPath string, log *slog.Logger, containers []Container) *podFollower {
	f := &podFollower{
		podID: podID, locate: locate, checkpointPath: checkpointPath, log: log,
		sinks: map[string]*sink{}, byID: map[string]*sink{},
		stop: make(chan struct{}), finish: make(chan struct{}), done: make(chan struct{}),
	}
	if b, err := os.ReadFile(checkpointPath); err == nil {
		if err := json.Unmarshal(b, &f.resume); err != nil {
			log.Warn("ignoring a damaged log checkpoint", "pod", podID, "path", checkpointPath, "err", err)
			f.resume = checkpoint{}
		}
	}
	f.saved = checkpoint{Cursor: f.resume.Cursor, Files: map[string]fileMark{}}
	for _, c := range containers {
		s := newSink(c)
		var err error
		if m, ok := f.resume.Files[c.ID]; ok {
			err = s.resume(m)
		} else {
			err = s.openFile()
		}
		if err != nil {
			s.lastErr = err
			log.Warn("cannot open a container log", "container", c.ID, "path", c.Path, "err", err)
		}
		f.sinks[c.App], f.byID[c.ID] = s, s
		f.saved.Files[c.ID] = s.mark()
	}
	return f
}

func (f *podFollower) addContainer(c Container) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.byID[c.ID]; ok {
		old.close()
	}
	s := newSink(c)
	err := s.openFile()
	f.sinks[c.App], f.byID[c.ID] = s, s
	f.saved.Files[c.ID] = s.mark()
	if err != nil {
		s.lastErr = err
		return err
	}
	return f.saveLocked()
}

func (f *podFollower) removeContainer(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.byID[id]
	if !ok {
		return
	}
	s.close()
	delete(f.byID, id)
	delete(f.sinks, s.App)
	delete(f.saved.Files, id)
	_ = f.saveLocked()
}

func (f *podFollower) reopen(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.byID[id]
	if !ok {
		return os.ErrNotExist
	}
	// Lines already written stay in the renamed file; those still
	// buffered were read after the saved cursor and go to the new one, so
	// the checkpoint stays exact with the new file's mark.
	if err := s.reopen(); err != nil {
		s.lastErr = err
		return err
	}
	f.saved.Files[id] = s.mark()
	return f.saveLocked()
}

func (f *podFollower) sinkOf(id string) *sink {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byID[id]
}

func (f *podFollower) problem(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.byID[id]; s != nil {
		return s.problem()
	}
	return ""
}

func (f *podFollower) saveLocked() error {
	b, err := json.Marshal(f.saved)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(f.checkpointPath, b, 0o600)
}

// flushLocked writes every buffered line and then the checkpoint at cursor.
func (f *podFollower) flushLocked(cursor string) {
	files := make(map[string]fileMark, len(f.byID))
	for id, s := range f.byID {
		if err := s.flush(); err != nil {
			f.log.Warn("writing a container log", "container", id, "path", s.Path, "err", err)
		}
		files[id] = s.mark()
	}
	f.recordLagLocked()
	f.saved = checkpoint{Cursor: cursor, Files: files}
	if err := f.saveLocked(); err != nil {
		f.log.Warn("saving the log checkpoint", "pod", f.podID, "err", err)
	}
}

// recordLagLocked sets the pod's log lag (metrics.LogLag) as lines are written.
func (f *podFollower) recordLagLocked() {
	if !f.newest.IsZero() {
		metrics.LogLag.WithLabelValues(f.podID).Set(time.Since(f.newest).Seconds())
	}
}

func (f *podFollower) halt() {
	f.stopOnce.Do(func() { close(f.stop) })
	<-f.done
}

// drainAndHalt reads the journal to its current end, writes it out, and
// ends the follower. The pod must have stopped: its journal no longer grows.
func (f *podFollower) drainAndHalt(timeout time.Duration) bool {
	f.finishSoon()
	select {
	case <-f.done:
		return true
	case <-time.After(timeout):
		f.halt()
		return false
	}
}

// finishSoon has the follower read the journal to its end and stop.
func (f *podFollower) finishSoon() {
	f.stopOnce.Do(func() { close(f.finish) })
	f.wake()
}

// wake ends the follower's wait for new entries now rather than at the
// end of its slice: sd_journal_wait returns on any inotify event in the
// directory it reads, such as a file created and removed there. A
// RemovePodSandbox waited up to a whole slice (200 ms) for it otherwise.
func (f *podFollower) wake() {
	f.mu.Lock()
	dir := f.journalDir
	f.mu.Unlock()
	if dir == "" {
		return
	}
	if tmp, err := os.CreateTemp(dir, ".rktlet-finish-"); err == nil {
		tmp.Close()
		os.Remove(tmp.Name())
	}
}

func (f *podFollower) stopped() bool {
	select {
	case <-f.stop:
		return true
	default:
		return false
	}
}

// run follows the journal until halted. Lines reach their files as soon as
// the journal has no more entries to read (or every checkpointEvery while
// it has), and the checkpoint follows at most checkpointEvery later.
func (f *podFollower) run() {
	// A panic here may leave f.mu held, which RPCs take too; rktlet's
	// restart resumes every pod from its checkpoint, each line once.
	defer panics.Exit("the journal follower of pod " + f.podID)
	defer close(f.done)
	j := f.open()
	if j == nil {
		return
	}
	defer j.Close()

	r := reader{j: j}
	unwritten, unsaved := false, false
	lastSave, lastWrite, lastEntry := time.Now(), time.Now(), time.Time{}
	save := func() {
		cursor, err := j.GetCursor()
		if err != nil {
			return // no entry read yet
		}
		f.mu.Lock()
		f.flushLocked(cursor)
		f.mu.Unlock()
		unwritten, unsaved, lastSave, lastWrite = false, false, time.Now(), time.Now()
	}
	write := func() {
		f.mu.Lock()
		for id, s := range f.byID {
			if err := s.flush(); err != nil {
				f.log.Warn("writing a container log", "container", id, "path", s.Path, "err", err)
			}
		}
		f.recordLagLocked()
		f.mu.Unlock()
		unwritten, lastWrite = false, time.Now()
	}
	for {
		if f.stopped() {
			if unsaved {
				save()
			}
			return
		}
		f.mu.Lock()
		n, atEnd, err := f.readBatch(&r)
		f.mu.Unlock()
		if n > 0 {
			unwritten, unsaved, lastEntry = true, true, time.Now()
		}
		if err != nil {
			f.log.Warn("reading the pod journal", "pod", f.podID, "err", err)
		}
		switch {
		case unsaved && time.Since(lastSave) >= checkpointEvery:
			save()
		case unwritten && (atEnd || time.Since(lastWrite) >= checkpointEvery):
			write()
		}
		if !atEnd && err == nil {
			continue
		}
		select {
		case <-f.finish:
			// The pod has stopped: its FinishPod deletes the checkpoint,
			// and a restart before that resumes from the last one and
			// reads the rest again (the files are cut back to it), so
			// the lines go to their files and no checkpoint is saved.
			if unwritten {
				write()
			}
			return
		default:
		}
		if time.Since(lastEntry) < busyFor {
			j.Wait(busyPoll)
		} else {
			j.Wait(waitSlice)
		}
	}
}

// readBatch handles up to a few thousand entries; it reports how many it
// read and whether it reached the journal's end.
func (f *podFollower) readBatch(r *reader) (int, bool, error) {
	for n := 0; n < 4096; n++ {
		more, err := r.j.Next()
		if err != nil {
			return n, false, err
		}
		if more == 0 {
			return n, true, nil
		}
		if usec, err := r.j.GetRealtimeUsec(); err == nil {
			f.newest = time.UnixMicro(int64(usec))
		}
		if err := f.handle(r); err != nil {
			return n + 1, false, err
		}
	}
	return 4096, false, nil
}

// open waits for the pod's journal to exist and positions it after the
// checkpoint's cursor, or at the start.
func (f *podFollower) open() *sdjournal.Journal {
	for delay := 20 * time.Millisecond; ; delay = min(delay*2, time.Second) {
		dir, err := f.locate()
		if err == nil && hasJournalFiles(dir) {
			j, err := sdjournal.NewJournalFromDir(dir)
			if err == nil {
				if err := f.position(j); err == nil {
					f.mu.Lock()
					f.journalDir = dir
					f.mu.Unlock()
					return j
				} else {
					f.log.Warn("positioning in the pod journal", "pod", f.podID, "err", err)
				}
				j.Close()
			} else {
				f.log.Debug("opening the pod journal", "pod", f.podID, "dir", dir, "err", err)
			}
		}
		select {
		case <-f.stop:
			return nil
		case <-f.finish:
			// The pod stopped before its journal appeared.
			if err != nil || !hasJournalFiles(dir) {
				return nil
			}
		case <-time.After(delay):
		}
	}
}

func (f *podFollower) position(j *sdjournal.Journal) error {
	if err := j.SetDataThreshold(0); err != nil {
		return err
	}
	// Only entries stage1 wrote for app output.
	for _, m := range []string{fieldStream + "=" + Stdout, fieldStream + "=" + Stderr} {
		if err := j.AddMatch(m); err != nil {
			return err
		}
	}
	if err := j.AddDisjunction(); err != nil {
		return err
	}
	for _, m := range []string{fieldEOF + "=" + Stdout, fieldEOF + "=" + Stderr} {
		if err := j.AddMatch(m); err != nil {
			return err
		}
	}
	if f.resume.Cursor == "" {
		return j.SeekHead()
	}
	if err := j.SeekCursor(f.resume.Cursor); err != nil {
		return err
	}
	// Seeking lands before the entry at the cursor, which was written.
	if n, err := j.Next(); err != nil || n == 0 {
		return err
	}
	if err := j.TestCursor(f.resume.Cursor); err != nil {
		// That entry is gone (the journal was vacuumed): start right here.
		_, err = j.Previous()
		return err
	}
	return nil
}

// hasJournalFiles reports whether dir or one of its machine-ID directories
// holds a journal file yet.
func hasJournalFiles(dir string) bool {
	matches, _ := filepath.Glob(filepath.Join(dir, "*", "*.journal"))
	if len(matches) > 0 {
		return true
	}
	matches, _ = filepath.Glob(filepath.Join(dir, "*.journal"))
	return len(matches) > 0
}

// reader holds the buffer the current entry's line is built in.
type reader struct {
	j    *sdjournal.Journal
	line []byte
}

// handle writes the entry the journal is at, if it belongs to a known
// container.
func (f *podFollower) handle(r *reader) error {
	app, err := r.j.GetDataValue(fieldIdentifier)
	if err != nil {
		return nil
	}
	s := f.sinks[app]
	if s == nil {
		return nil
	}
	stream, err := r.j.GetDataValue(fieldStream)
	if err != nil {
		if eof, err := r.j.GetDataValue(fieldEOF); err == nil {
			if err := s.flush(); err != nil {
				f.log.Warn("writing a container log", "container", s.ID, "path", s.Path, "err", err)
			}
			s.streamEnded(eof)
		}
		return nil
	}
	if stream != Stdout && stream != Stderr {
		return nil
	}
	msg, err := r.j.GetDataValueBytes(fieldMessage)
	if err != nil {
		msg = nil
	}
	_, partialErr := r.j.GetDataValue(fieldPartial)
	usec, err := r.j.GetRealtimeUsec()
	if err != nil {
		return err
	}
	// One entry holds the lines iottymux read at once; only the last can
	// be partial.
	ts := time.UnixMicro(int64(usec))
	r.line = r.line[:0]
	for {
		i := bytes.IndexByte(msg, '\n')
		if i < 0 {
			r.line = appendCRILine(r.line, ts, stream, partialErr == nil, msg)
			break
		}
		r.line = appendCRILine(r.line, ts, stream, false, msg[:i])
		msg = msg[i+1:]
	}
	if err := s.add(r.line); err != nil {
		f.log.Warn("writing a container log", "container", s.ID, "path", s.Path, "err", err)
	}
	return nil
}
