package appspec

import (
	"errors"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestCheckAppArmor(t *testing.T) {
	localhost := &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: "my-profile"}
	for _, tc := range []struct {
		name    string
		sc      *runtimeapi.LinuxContainerSecurityContext
		refused bool
	}{
		{"none", nil, false},
		{"runtime default", &runtimeapi.LinuxContainerSecurityContext{Apparmor: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}}, false},
		{"deprecated runtime/default", &runtimeapi.LinuxContainerSecurityContext{ApparmorProfile: "runtime/default"}, false},
		{"localhost", &runtimeapi.LinuxContainerSecurityContext{Apparmor: localhost}, true},
		{"deprecated localhost", &runtimeapi.LinuxContainerSecurityContext{ApparmorProfile: "localhost/my-profile"}, true},
		{"privileged", &runtimeapi.LinuxContainerSecurityContext{Privileged: true, Apparmor: localhost}, false},
	} {
		err := CheckAppArmor(tc.sc)
		if tc.refused != errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
