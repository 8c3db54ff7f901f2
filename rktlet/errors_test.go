package rktlet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestToGRPC(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("sandbox config: metadata.name: %w", errdefs.ErrInvalidArgument), codes.InvalidArgument},
		{fmt.Errorf("pod %q: %w", "abc", errdefs.ErrNotFound), codes.NotFound},
		{fmt.Errorf("fetching: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{status.Error(codes.Unimplemented, "no"), codes.Unimplemented},
		{errors.New("boom"), codes.Unknown},
	} {
		if got := status.Code(toGRPC(tc.err)); got != tc.code {
			t.Errorf("%v: code %v, want %v", tc.err, got, tc.code)
		}
	}
}

func TestInterceptorRecoversPanic(t *testing.T) {
	ic := UnaryInterceptor(quiet, nil)
	_, err := ic(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/test/Panic"},
		func(context.Context, any) (any, error) { panic("bad input") })
	if status.Code(err) != codes.Internal {
		t.Fatalf("got %v, want Internal", err)
	}
}

// Every line logged inside an RPC carries the request's number, method
// and the IDs it names, and the RPC's own line also what it made.
func TestInterceptorRequestLogger(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := &Service{log: quiet}
	ic := UnaryInterceptor(log, nil)
	_, err := ic(context.Background(), &runtimeapi.CreateContainerRequest{PodSandboxId: "pod-1"}, &grpc.UnaryServerInfo{FullMethod: "/runtime.v1.RuntimeService/CreateContainer"},
		func(ctx context.Context, _ any) (any, error) {
			s.logger(ctx).Info("inside")
			return &runtimeapi.CreateContainerResponse{ContainerId: "ctr-1"}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want the handler's line and the RPC's, got %q", lines)
	}
	for _, want := range []string{"request=", "method=/runtime.v1.RuntimeService/CreateContainer", "pod=pod-1"} {
		for _, l := range lines {
			if !strings.Contains(l, want) {
				t.Errorf("%q lacks %s", l, want)
			}
		}
	}
	if !strings.Contains(lines[1], "container=ctr-1") {
		t.Errorf("the RPC's line does not name the container it made: %q", lines[1])
	}
	number := regexp.MustCompile(`request=(\d+)`)
	if a, b := number.FindStringSubmatch(lines[0]), number.FindStringSubmatch(lines[1]); a == nil || b == nil || a[1] != b[1] {
		t.Errorf("the two lines carry different request numbers: %q", lines)
	}
}
