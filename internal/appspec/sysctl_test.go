package appspec

import (
	"errors"
	"github.com/rktlet/rktlet/errdefs"
	"testing"
)

func TestValidateSysctls(t *testing.T) {
	for _, tc := range []struct {
		sysctls     map[string]string
		hostNetwork bool
		ok          bool
	}{
		{map[string]string{"kernel.shm_rmid_forced": "1", "fs.mqueue.msg_max": "100"}, false, true},
		{map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}, false, true},
		{map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}, true, false},
		{map[string]string{"kernel.shm_rmid_forced": "1"}, true, true},
		{map[string]string{"vm.swappiness": "10"}, false, false},
		{map[string]string{"kernel.pid_max": "4096"}, false, false},
		// Names and values the kernel would refuse, checked up front.
		{map[string]string{"net.core.somaxconn": "4096"}, false, true},
		{map[string]string{"net.core.somaxconn": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, false, false},
		{map[string]string{"net.ipv4.ip_local_port_range": "1024 65000"}, false, true},
		{map[string]string{"net.ipv4.ip_local_port_range": "1024"}, false, false},
		{map[string]string{"net.core.somaxconn": ""}, false, false},
		{map[string]string{"net.core.somaxconn": "1\n2"}, false, false},
		{map[string]string{"net.no_such_sysctl_here": "1"}, false, false},
		{map[string]string{"net.core..somaxconn": "1"}, false, false},
		{map[string]string{"net.Core.somaxconn": "1"}, false, false},
	} {
		err := ValidateSysctls(tc.sysctls, tc.hostNetwork)
		if tc.ok != (err == nil) {
			t.Errorf("%v hostNetwork=%v: %v", tc.sysctls, tc.hostNetwork, err)
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%v: %v is not InvalidArgument", tc.sysctls, err)
		}
	}
}
