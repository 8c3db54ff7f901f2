package image

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	best := "/"
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	return best, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) mountinfo
// uses in paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
