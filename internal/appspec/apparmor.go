package appspec

import (
	"fmt"
	"strings"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CheckAppArmor refuses the AppArmor confinement rktlet cannot give: rkt's
// stage1 applies no AppArmor profile, so a Localhost profile (a specific
// confinement asked for by name) is refused rather than silently not
// applied. RuntimeDefault and Unconfined run unconfined, as on a host
// without AppArmor, where kubelets send RuntimeDefault too.
func CheckAppArmor(sc *runtimeapi.LinuxContainerSecurityContext) error {
	if sc.GetPrivileged() {
		return nil
	}
	name := ""
	if p := sc.GetApparmor(); p != nil {
		if p.GetProfileType() == runtimeapi.SecurityProfile_Localhost {
			name = p.GetLocalhostRef()
		}
	} else if ref, ok := strings.CutPrefix(sc.GetApparmorProfile(), "localhost/"); ok {
		name = ref
	}
	if name == "" {
		return nil
	}
	return fmt.Errorf("config.linux.security_context.apparmor: Localhost profile %q: rkt's stage1 applies no AppArmor profile: %w", name, errdefs.ErrInvalidArgument)
}
