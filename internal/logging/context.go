package logging

import (
	"context"
	"log/slog"
)

type loggerKey struct{}

// WithLogger is ctx carrying l: the logger of one request, with its ID, its
// RPC and what it is about, so that every line logged while it runs can be
// tied to it.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// FromContext is the logger ctx carries, or fallback when it carries none
// (work that no request started: recovery, watchers).
func FromContext(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}
