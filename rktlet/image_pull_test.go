package rktlet

import (
	"errors"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestValidateAuth(t *testing.T) {
	if err := validateAuth(&runtimeapi.AuthConfig{Username: "u", Password: "p ü+/=", Auth: "dTpw"}); err != nil {
		t.Fatal(err)
	}
	if err := validateAuth(nil); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*runtimeapi.AuthConfig{{Auth: "\u202e\x00"}, {RegistryToken: "a\x00b"}, {Password: "a\r\nX-Injected: 1"}} {
		if err := validateAuth(a); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%v: %v", a, err)
		}
	}
}
