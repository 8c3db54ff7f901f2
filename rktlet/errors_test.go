package rktlet

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
