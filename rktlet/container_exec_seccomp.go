package rktlet

import (
	"os"
	"path/filepath"

	"github.com/rktlet/rktlet/internal/appspec"
	"github.com/rktlet/rktlet/internal/store"
)

// appSeccompFilter is the app's seccomp filter as a BPF program for `rkt
// enter` to install (patch 0011), hex-encoded; "" when the app has none.
// The filter is read back from the app's unit, which stage1 wrote from `rkt
// app add --seccomp` (SystemCallFilter=, SystemCallErrorNumber=), so that an
// exec is filtered exactly as the app: rkt enter bypasses the unit.
func (s *Service) appSeccompFilter(c *store.Container, sb *store.Sandbox) (string, error) {
	root, err := s.pods.Root(sb.RktUUID)
	if err != nil {
		return "", err
	}
	unit, err := os.ReadFile(filepath.Join(root, "usr", "lib", "systemd", "system", c.App+".service"))
	if err != nil {
		return "", err
	}
	return appspec.ExecSeccompFilter(unit)
}
