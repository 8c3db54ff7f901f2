package appspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestSeccompOption(t *testing.T) {
	dir := t.TempDir()
	write := func(name, profile string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(profile), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	blockHostname := write("block-hostname.json", `{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]}`)
	blockChmod := write("block-chmod.json", `{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["fchmodat", "chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`)
	whitelist := write("whitelist.json", `{"defaultAction": "SCMP_ACT_KILL_PROCESS",
		"syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}, {"name": "kill", "action": "SCMP_ACT_KILL"}]}`)
	withArgs := write("args.json", `{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}`)
	mixed := write("mixed.json", `{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_KILL"}, {"names": ["chown"], "action": "SCMP_ACT_ERRNO"}]}`)
	broken := write("broken.json", `{"defaultAction": `)

	localhost := func(path string) *runtimeapi.LinuxContainerSecurityContext {
		return &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: path}}
	}
	for _, tc := range []struct {
		name string
		sc   *runtimeapi.LinuxContainerSecurityContext
		want string
		err  error
	}{
		{"nil", nil, SeccompUnconfined, nil},
		{"unconfined", &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}}, SeccompUnconfined, nil},
		{"runtime default", &runtimeapi.LinuxContainerSecurityContext{Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}}, seccompRuntimeDefault, nil},
		{"deprecated runtime/default", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "runtime/default"}, seccompRuntimeDefault, nil},
		{"deprecated localhost", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "localhost/" + blockHostname}, "mode=remove,errno=EPERM,sethostname", nil},
		{"privileged ignores the profile", &runtimeapi.LinuxContainerSecurityContext{Privileged: true, Seccomp: &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: blockHostname}}, SeccompUnconfined, nil},
		{"block hostname", localhost(blockHostname), "mode=remove,errno=EPERM,sethostname", nil},
		{"errnoRet", localhost(blockChmod), "mode=remove,errno=EACCES,chmod,fchmodat", nil},
		{"whitelist", localhost(whitelist), "mode=retain,exit_group,read,write", nil},
		{"arguments", localhost(withArgs), "", errdefs.ErrInvalidArgument},
		{"mixed results", localhost(mixed), "", errdefs.ErrInvalidArgument},
		{"broken JSON", localhost(broken), "", errdefs.ErrInvalidArgument},
		{"missing", localhost(filepath.Join(dir, "nope.json")), "", errdefs.ErrNotFound},
		{"relative", localhost("profile.json"), "", errdefs.ErrInvalidArgument},
		{"bad deprecated path", &runtimeapi.LinuxContainerSecurityContext{SeccompProfilePath: "docker/nonsense"}, "", errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Seccomp(tc.sc)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if !strings.Contains(err.Error(), "seccomp") {
					t.Errorf("error %q does not say it is about seccomp", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
