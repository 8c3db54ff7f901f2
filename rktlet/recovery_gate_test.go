package rktlet

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestRecoveryGate: until recovery is done, the calls that read or change
// pods and containers answer Unavailable without reaching their handler;
// Version, Status, the runtime config and image calls answer; afterwards
// every call goes through.
func TestRecoveryGate(t *testing.T) {
	known := map[string]bool{}
	for _, m := range runtimeapi.RuntimeService_ServiceDesc.Methods {
		known[m.MethodName] = true
	}
	for _, m := range runtimeapi.RuntimeService_ServiceDesc.Streams {
		known[m.StreamName] = true
	}
	for m := range awaitsRecovery {
		if !known[m] {
			t.Errorf("awaitsRecovery names %s, which the RuntimeService does not have", m)
		}
	}

	s := &Service{}
	intercept := UnaryInterceptor(slog.New(slog.NewTextHandler(io.Discard, nil)), s.RecoveryGate)
	call := func(method string) error {
		reached := false
		_, err := intercept(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) {
			reached = true
			return nil, nil
		})
		if err != nil && reached {
			t.Errorf("%s reached its handler and failed", method)
		}
		return err
	}
	runtime := "/runtime.v1.RuntimeService/"
	for _, m := range []string{"ListPodSandbox", "CreateContainer", "ExecSync", "ContainerStats"} {
		if err := call(runtime + m); status.Code(err) != codes.Unavailable {
			t.Errorf("%s before recovery: %v, want Unavailable", m, err)
		}
	}
	for _, m := range []string{runtime + "Version", runtime + "Status", runtime + "UpdateRuntimeConfig", "/runtime.v1.ImageService/ListImages", "/runtime.v1.ImageService/PullImage"} {
		if err := call(m); err != nil {
			t.Errorf("%s before recovery: %v, want it answered", m, err)
		}
	}
	s.recovered.Store(true)
	if err := call(runtime + "ListPodSandbox"); err != nil {
		t.Errorf("ListPodSandbox after recovery: %v", err)
	}
	if err := (&Service{}).RecoveryGate("/other.Service/ListPodSandbox"); err != nil {
		t.Error("a method of another service was gated")
	}
}
