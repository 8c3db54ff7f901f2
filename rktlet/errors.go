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

var kinds = []struct {
	err  error
	code codes.Code
}{
	{errdefs.ErrInvalidArgument, codes.InvalidArgument},
	{errdefs.ErrNotFound, codes.NotFound},
	{errdefs.ErrAlreadyExists, codes.AlreadyExists},
	{errdefs.ErrFailedPrecondition, codes.FailedPrecondition},
	{errdefs.ErrUnavailable, codes.Unavailable},
	{errdefs.ErrResourceExhausted, codes.ResourceExhausted},
	{errdefs.ErrPermissionDenied, codes.PermissionDenied},
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
		return 0, fmt.Errorf("%s is %d: a timeout cannot be negative: %w", field, v, errdefs.ErrInvalidArgument)
	}
	if v > maxTimeoutSeconds {
		v = maxTimeoutSeconds
	}
	return time.Duration(v) * time.Second, nil
}
