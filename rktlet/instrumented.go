package rktlet

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rktlet/rktlet/internal/metrics"
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
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in RPC", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				resp, err = nil, status.Error(codes.Internal, fmt.Sprintf("internal error in %s: %v", info.FullMethod, r))
			}
			logRPC(ctx, log, info.FullMethod, start, err)
		}()
		if gate != nil {
			if err := gate(info.FullMethod); err != nil {
				return nil, toGRPC(err)
			}
		}
		resp, err = handler(ctx, req)
		return resp, toGRPC(err)
	}
}

// StreamInterceptor does for streaming RPCs what UnaryInterceptor does.
func StreamInterceptor(log *slog.Logger, gate Gate) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic in RPC", "method", info.FullMethod, "panic", r, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, fmt.Sprintf("internal error in %s: %v", info.FullMethod, r))
			}
			logRPC(ss.Context(), log, info.FullMethod, start, err)
		}()
		if gate != nil {
			if err := gate(info.FullMethod); err != nil {
				return toGRPC(err)
			}
		}
		return toGRPC(handler(srv, ss))
	}
}

func logRPC(ctx context.Context, log *slog.Logger, method string, start time.Time, err error) {
	code := status.Code(err)
	metrics.RPCs.WithLabelValues(method, code.String()).Observe(time.Since(start).Seconds())
	if err != nil {
		log.ErrorContext(ctx, "RPC failed", "method", method, "duration", time.Since(start), "code", code.String(), "error", status.Convert(err).Message())
		return
	}
	log.DebugContext(ctx, "RPC", "method", method, "duration", time.Since(start), "code", code.String())
}
