package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestContextLogger(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, nil))
	if got := FromContext(context.Background(), base); got != base {
		t.Fatal("a context without a logger does not give the fallback")
	}
	ctx := WithLogger(context.Background(), base.With("request", "r1"))
	FromContext(ctx, base).Info("inside")
	if !strings.Contains(buf.String(), "request=r1") {
		t.Fatalf("the request's logger lost its attributes: %q", buf.String())
	}
}
