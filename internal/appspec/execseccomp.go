package appspec

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ExecSeccompFilter is the seccomp filter of an app unit (SystemCallFilter=,
// SystemCallErrorNumber=, as stage1 wrote them from `rkt app add --seccomp`)
// as a hex BPF program for `rkt enter` (patch 0011), "" when the unit
// filters nothing: an exec is filtered exactly as the app.
func ExecSeccompFilter(unit []byte) (string, error) {
	f := parseUnitSeccomp(unit)
	if len(f.names) == 0 {
		return "", nil
	}
	prog, err := compileSeccomp(f)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(prog), nil
}

// unitSeccomp is an app unit's syscall filter.
type unitSeccomp struct {
	allowList bool     // the names are allowed, the rest denied
	names     []string // as systemd lists them
	errno     string   // what denied calls return; "": the process is killed
}

// parseUnitSeccomp reads SystemCallFilter= and SystemCallErrorNumber= as
// systemd does: names separated by spaces over any number of lines, a
// leading "~" on the first making it a deny list.
func parseUnitSeccomp(unit []byte) unitSeccomp {
	var f unitSeccomp
	first := true
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		key, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		switch key {
		case "SystemCallErrorNumber":
			f.errno = value
		case "SystemCallFilter":
			deny := strings.HasPrefix(value, "~")
			if first {
				f.allowList, first = !deny, false
			}
			f.names = append(f.names, strings.Fields(strings.TrimPrefix(value, "~"))...)
		}
	}
	return f
}

// alwaysAllowed are calls systemd permits under any allow list, and
// without which no exec could even start.
var alwaysAllowed = []string{"execve", "exit", "exit_group", "rt_sigreturn"}

// compileSeccomp assembles the filter for this machine's architecture, in
// the kernel's struct sock_filter layout.
func compileSeccomp(f unitSeccomp) ([]byte, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, err
	}
	deny, errno := seccomp.ActionKillProcess, unix.Errno(0)
	if f.errno != "" {
		if errno = errnoValue(f.errno); errno == 0 {
			return nil, fmt.Errorf("unknown errno %q", f.errno)
		}
		deny = seccomp.ActionErrno
	}
	names := f.names
	if f.allowList {
		names = append(append([]string{}, alwaysAllowed...), names...)
	}
	// Names this architecture does not have are left out, as systemd does.
	var known []string
	seen := map[string]bool{}
	for _, n := range names {
		if _, ok := info.SyscallNames[n]; ok && !seen[n] {
			seen[n] = true
			known = append(known, n)
		}
	}
	if len(known) == 0 {
		return nil, errors.New("no syscall of the filter exists here")
	}
	policy := seccomp.Policy{DefaultAction: seccomp.ActionAllow, Syscalls: []seccomp.SyscallGroup{{Names: known, Action: deny}}}
	if f.allowList {
		policy = seccomp.Policy{DefaultAction: deny, Syscalls: []seccomp.SyscallGroup{{Names: known, Action: seccomp.ActionAllow}}}
	}
	insns, err := policy.Assemble()
	if err != nil {
		return nil, err
	}
	// The library returns a bare SECCOMP_RET_ERRNO (errno 0: success);
	// the errno goes into its low bits.
	for i, in := range insns {
		if r, ok := in.(bpf.RetConstant); ok && r.Val == uint32(seccomp.ActionErrno) {
			r.Val |= uint32(errno)
			insns[i] = r
		}
	}
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		out = binary.NativeEndian.AppendUint16(out, r.Op)
		out = append(out, r.Jt, r.Jf)
		out = binary.NativeEndian.AppendUint32(out, r.K)
	}
	return out, nil
}

// errnoValue is the number of an errno name ("EPERM"), 0 if unknown.
func errnoValue(name string) unix.Errno {
	for n := unix.Errno(1); n < 4096; n++ {
		if unix.ErrnoName(n) == name {
			return n
		}
	}
	return 0
}
