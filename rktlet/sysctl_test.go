package rktlet

import (
	"errors"
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
	} {
		err := validateSysctls(tc.sysctls, tc.hostNetwork)
		if tc.ok != (err == nil) {
			t.Errorf("%v hostNetwork=%v: %v", tc.sysctls, tc.hostNetwork, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%v: %v is not InvalidArgument", tc.sysctls, err)
		}
	}
}
