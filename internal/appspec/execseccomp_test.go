package appspec

import (
	"encoding/binary"
	"testing"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func TestParseUnitSeccomp(t *testing.T) {
	unit := []byte("[Service]\nUser=0\nSystemCallErrorNumber=EACCES\nSystemCallFilter=~sethostname\nSystemCallFilter=chmod fchmodat\n")
	f := parseUnitSeccomp(unit)
	if f.allowList || f.errno != "EACCES" || len(f.names) != 3 || f.names[0] != "sethostname" || f.names[2] != "fchmodat" {
		t.Fatalf("parsed %+v", f)
	}
	if f := parseUnitSeccomp([]byte("[Service]\nUser=0\n")); len(f.names) != 0 {
		t.Fatalf("no filter parsed as %+v", f)
	}
}

// runFilter runs the compiled program on a system call as the kernel would
// (struct seccomp_data: nr, arch, ip, args) and returns its verdict.
func runFilter(t *testing.T, prog []byte, name string) uint32 {
	t.Helper()
	info, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	var raw []bpf.RawInstruction
	for i := 0; i+8 <= len(prog); i += 8 {
		raw = append(raw, bpf.RawInstruction{
			Op: binary.NativeEndian.Uint16(prog[i:]), Jt: prog[i+2], Jf: prog[i+3], K: binary.NativeEndian.Uint32(prog[i+4:]),
		})
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("program does not disassemble")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64)
	// The VM loads words big-endian; seccomp_data is in host order, so
	// the test stores the words the way the program reads them.
	binary.BigEndian.PutUint32(data[0:], uint32(info.SyscallNames[name]))
	binary.BigEndian.PutUint32(data[4:], uint32(info.ID))
	verdict, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(verdict)
}

func TestCompileSeccomp(t *testing.T) {
	deny, err := compileSeccomp(unitSeccomp{names: []string{"sethostname", "no_such_call"}, errno: "EPERM"})
	if err != nil {
		t.Fatal(err)
	}
	if v := runFilter(t, deny, "sethostname"); v != uint32(seccomp.ActionErrno)|uint32(unix.EPERM) {
		t.Errorf("deny list: sethostname gets %#x, want ERRNO(EPERM)", v)
	}
	if v := runFilter(t, deny, "getpid"); v != uint32(seccomp.ActionAllow) {
		t.Errorf("deny list: getpid gets %#x, want ALLOW", v)
	}

	allow, err := compileSeccomp(unitSeccomp{allowList: true, names: []string{"read", "write"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]seccomp.Action{
		"read": seccomp.ActionAllow, "execve": seccomp.ActionAllow, // always allowed
		"sethostname": seccomp.ActionKillProcess,
	} {
		if v := runFilter(t, allow, name); v != uint32(want) {
			t.Errorf("allow list: %s gets %#x, want %#x", name, v, uint32(want))
		}
	}

	if _, err := compileSeccomp(unitSeccomp{names: []string{"sethostname"}, errno: "ENOTANERRNO"}); err == nil {
		t.Error("an unknown errno name compiled")
	}
}
