package appspec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/rktlet/rktlet/errdefs"
)

// TestAppAddOptionsLeavesMissingHostPathsToTheCaller: a mount's missing host
// path is listed, its symlinked parent resolved, and nothing is made on the
// host while the request is being checked.
func TestAppAddOptionsLeavesMissingHostPathsToTheCaller(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	cfg := &runtimeapi.ContainerConfig{Mounts: []*runtimeapi.Mount{
		{ContainerPath: "/existing", HostPath: filepath.Join(dir, "link")},
		{ContainerPath: "/missing", HostPath: filepath.Join(dir, "link", "new", "data")},
	}}
	o, hostDirs, err := AppAddOptions(cfg, "app", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(real, "new", "data")
	if !slices.Equal(hostDirs, []string{want}) {
		t.Fatalf("host dirs to make %v, want [%s]", hostDirs, want)
	}
	if _, err := os.Stat(filepath.Join(real, "new")); !os.IsNotExist(err) {
		t.Fatalf("AppAddOptions made %s (%v)", filepath.Join(real, "new"), err)
	}
	if len(o.Mounts) != 2 || !strings.Contains(o.Mounts[0], "source="+MntVolumeValue(real)+",") || !strings.Contains(o.Mounts[1], "source="+MntVolumeValue(want)+",") {
		t.Fatalf("mounts %q, want the symlinks resolved", o.Mounts)
	}
}

func TestAppAddOptionsRefusesImageVolumes(t *testing.T) {
	cfg := &runtimeapi.ContainerConfig{Mounts: []*runtimeapi.Mount{{ContainerPath: "/data", Image: &runtimeapi.ImageSpec{Image: "registry.k8s.io/pause:3.10"}}}}
	_, _, err := AppAddOptions(cfg, "app", nil, nil)
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "config.mounts[0].image") {
		t.Fatalf("an image volume: %v, want InvalidArgument naming config.mounts[0].image", err)
	}
}
