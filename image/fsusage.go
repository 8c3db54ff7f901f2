package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/moby/sys/mountinfo"
)

// Usage is what a directory tree takes on its filesystem.
type Usage struct {
	Bytes      uint64
	Inodes     uint64
	Mountpoint string
}

// DirUsage walks dir and adds up the blocks and inodes its entries use,
// counting hard-linked files once. A missing dir uses nothing.
func DirUsage(dir string) (Usage, error) {
	u := Usage{}
	mp, err := Mountpoint(dir)
	if err != nil {
		return u, err
	}
	u.Mountpoint = mp
	seen := map[uint64]struct{}{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				// Removed while we walked (an image deleted meanwhile).
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if _, dup := seen[st.Ino]; dup {
			return nil
		}
		seen[st.Ino] = struct{}{}
		u.Inodes++
		u.Bytes += uint64(st.Blocks) * 512
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return u, fmt.Errorf("measuring %s: %w", dir, err)
	}
	return u, nil
}

// Mountpoint returns the mount point of the filesystem holding path (or its
// nearest existing parent), from this process's mount table.
func Mountpoint(path string) (string, error) {
	path = filepath.Clean(path)
	for {
		if _, err := os.Stat(path); err == nil || path == "/" {
			break
		}
		path = filepath.Dir(path)
	}
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(path))
	if err != nil {
		return "", err
	}
	best := "/"
	for _, m := range mounts {
		if len(m.Mountpoint) > len(best) {
			best = m.Mountpoint
		}
	}
	return best, nil
}
