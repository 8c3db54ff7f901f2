// Package logging builds rktlet's logger: text or JSON lines on stderr,
// each with its syslog priority when stderr is the journal.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
)

// New returns the logger writing to f. When f is the journal (systemd says
// so in JOURNAL_STREAM), each line starts with its priority, "<3>" for an
// error, which journald takes off and records, so that `journalctl -p err`
// shows errors alone; the journal has the time already, so lines leave it out.
func New(f *os.File, level slog.Level, format string) *slog.Logger {
	journal := isJournal(f, os.Getenv("JOURNAL_STREAM"))
	opts := &slog.HandlerOptions{Level: level}
	if journal {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	if !journal {
		return slog.New(handlerFor(f, format, opts))
	}
	w := &priorityWriter{out: f}
	return slog.New(&priorityHandler{Handler: handlerFor(w, format, opts), w: w})
}

func handlerFor(w io.Writer, format string, opts *slog.HandlerOptions) slog.Handler {
	if format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// isJournal tells whether f is the stream JOURNAL_STREAM ("device:inode")
// names: systemd sets it for a service whose output goes to the journal,
// and a child whose stderr was redirected elsewhere inherits it.
func isJournal(f *os.File, journalStream string) bool {
	dev, ino, ok := strings.Cut(journalStream, ":")
	if !ok {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return fmt.Sprint(st.Dev) == dev && fmt.Sprint(st.Ino) == ino
}

// syslog priorities (sd-daemon(3)).
func priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	default:
		return 7
	}
}

// priorityWriter puts the priority of the record being written in front of
// its line. slog's handlers write a record in one Write.
type priorityWriter struct {
	mu    sync.Mutex // held by priorityHandler.Handle around the write
	out   io.Writer
	level slog.Level
}

func (w *priorityWriter) Write(p []byte) (int, error) {
	line := append([]byte(fmt.Sprintf("<%d>", priority(w.level))), p...)
	if _, err := w.out.Write(line); err != nil {
		return 0, err
	}
	return len(p), nil
}

// priorityHandler hands each record's level to the writer before its line
// is written; handlers made by WithAttrs and WithGroup share the writer.
type priorityHandler struct {
	slog.Handler
	w *priorityWriter
}

func (h *priorityHandler) Handle(ctx context.Context, r slog.Record) error {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	h.w.level = r.Level
	return h.Handler.Handle(ctx, r)
}

func (h *priorityHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &priorityHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

func (h *priorityHandler) WithGroup(name string) slog.Handler {
	return &priorityHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}
