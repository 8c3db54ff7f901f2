package rktlet

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rktlet/rktlet/internal/logging"
	"github.com/rktlet/rktlet/internal/metrics"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Gate refuses a call, by its full gRPC method name, before its handler runs
// (Service.RecoveryGate); nil lets every call through.
type Gate func(fullMethod string) error

// UnaryInterceptor logs every RPC (one debug line: method, duration, code;
// failures at error level) and counts it (metrics.RPCs), refuses what gate
// refuses, maps errors to gRPC codes, and turns a panic in a handler into an
// Internal error instead of a dead daemon.
func UnaryInterceptor(log *slog.Logger, gate Gate) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		start := time.Now()
		rl := requestLogger(log, info.FullMethod, req)
		defer func() {
			if r := recover(); r != nil {
				rl.Error("panic in RPC", "panic", r, "stack", string(debug.Stack()))
				resp, err = nil, status.Error(codes.Internal, fmt.Sprintf("internal error in %s: %v", info.FullMethod, r))
			}
			// What the call made (a pod, a container) is named in its line.
			logRPC(ctx, rl.With(subjects(resp)...), info.FullMethod, start, err)
		}()
		if gate != nil {
			if err := gate(info.FullMethod); err != nil {
				return nil, toGRPC(err)
			}
		}
		resp, err = handler(logging.WithLogger(ctx, rl), req)
		return resp, toGRPC(err)
	}
}

// StreamInterceptor does for streaming RPCs what UnaryInterceptor does.
func StreamInterceptor(log *slog.Logger, gate Gate) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		start := time.Now()
		rl := requestLogger(log, info.FullMethod, nil)
		defer func() {
			if r := recover(); r != nil {
				rl.Error("panic in RPC", "panic", r, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, fmt.Sprintf("internal error in %s: %v", info.FullMethod, r))
			}
			logRPC(ss.Context(), rl, info.FullMethod, start, err)
		}()
		if gate != nil {
			if err := gate(info.FullMethod); err != nil {
				return toGRPC(err)
			}
		}
		return toGRPC(handler(srv, &loggedStream{ServerStream: ss, ctx: logging.WithLogger(ss.Context(), rl)}))
	}
}

// loggedStream is a stream whose context carries its request's logger.
type loggedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *loggedStream) Context() context.Context { return s.ctx }

// requestIDs numbers the RPCs since rktlet started.
var requestIDs atomic.Uint64

// requestLogger is log with what ties a line to one RPC: its number, its
// method and the pod, container and image the request names. Handlers
// take it from their context (Service.logger).
func requestLogger(log *slog.Logger, method string, req any) *slog.Logger {
	return log.With(append([]any{"request", requestIDs.Add(1), "method", method}, subjects(req)...)...)
}

// subjects are the pod, container and image a request or response names.
func subjects(msg any) []any {
	var out []any
	if m, ok := msg.(interface{ GetPodSandboxId() string }); ok && m.GetPodSandboxId() != "" {
		out = append(out, "pod", m.GetPodSandboxId())
	}
	if m, ok := msg.(interface{ GetContainerId() string }); ok && m.GetContainerId() != "" {
		out = append(out, "container", m.GetContainerId())
	}
	if m, ok := msg.(interface{ GetImage() *runtimeapi.ImageSpec }); ok && m.GetImage().GetImage() != "" {
		out = append(out, "image", m.GetImage().GetImage())
	}
	return out
}

func logRPC(ctx context.Context, log *slog.Logger, method string, start time.Time, err error) {
	code := status.Code(err)
	metrics.RPCs.WithLabelValues(method, code.String()).Observe(time.Since(start).Seconds())
	if err != nil {
		log.ErrorContext(ctx, "RPC failed", "duration", time.Since(start), "code", code.String(), "error", status.Convert(err).Message())
		return
	}
	log.DebugContext(ctx, "RPC", "duration", time.Since(start), "code", code.String())
}
