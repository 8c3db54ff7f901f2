package rktlet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/rktlet/rktlet/errdefs"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error kinds, re-exported from errdefs: code wraps one of these with %w
// where the error is made, and toGRPC maps it to a gRPC code once, at the edge.
var (
	ErrInvalidArgument    = errdefs.ErrInvalidArgument
	ErrNotFound           = errdefs.ErrNotFound
	ErrAlreadyExists      = errdefs.ErrAlreadyExists
	ErrFailedPrecondition = errdefs.ErrFailedPrecondition
	ErrUnavailable        = errdefs.ErrUnavailable
	ErrResourceExhausted  = errdefs.ErrResourceExhausted
	ErrPermissionDenied   = errdefs.ErrPermissionDenied
)

var kinds = []struct {
	err  error
	code codes.Code
}{
	{ErrInvalidArgument, codes.InvalidArgument},
	{ErrNotFound, codes.NotFound},
	{ErrAlreadyExists, codes.AlreadyExists},
	{ErrFailedPrecondition, codes.FailedPrecondition},
	{ErrUnavailable, codes.Unavailable},
	{ErrResourceExhausted, codes.ResourceExhausted},
	{ErrPermissionDenied, codes.PermissionDenied},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// toGRPC turns an error into a gRPC status error. Errors that already carry
// a status (from grpc itself, e.g. Unimplemented) keep it.
func toGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return status.Error(k.code, err.Error())
		}
	}
	return status.Error(codes.Unknown, err.Error())
}

// maxTimeoutSeconds is the largest timeout in seconds a time.Duration holds.
const maxTimeoutSeconds = math.MaxInt64 / int64(time.Second)

// timeoutSeconds turns a request's timeout in seconds into a duration:
// negative is refused, naming the field; one too large for a duration
// (hundreds of years) is as good as none and is capped, rather than
// overflowing into a negative duration that would end the call at once.
func timeoutSeconds(field string, v int64) (time.Duration, error) {
	if v < 0 {
		return 0, fmt.Errorf("%s is %d: a timeout cannot be negative: %w", field, v, ErrInvalidArgument)
	}
	if v > maxTimeoutSeconds {
		v = maxTimeoutSeconds
	}
	return time.Duration(v) * time.Second, nil
}
