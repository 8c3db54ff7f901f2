package rktlet

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// imageAccounts is an image's /etc/passwd and /etc/group, read from its
// ACI in rkt's store.
type imageAccounts struct {
	users  []passwdEntry
	groups []groupEntry
}

type passwdEntry struct {
	name     string
	uid, gid int64
}

type groupEntry struct {
	name    string
	gid     int64
	members []string
}

// accountsCache reads each ACI's accounts once.
type accountsCache struct {
	casDir string
	mu     sync.Mutex
	byACI  map[string]*imageAccounts
}

func newAccountsCache(rktDataDir string) *accountsCache {
	return &accountsCache{casDir: filepath.Join(rktDataDir, "cas", "blob"), byACI: map[string]*imageAccounts{}}
}

// forget drops what is cached of an ACI, when its image is removed.
func (c *accountsCache) forget(aci string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byACI, aci)
}

// get returns the accounts of an ACI ("sha512-…"); an image without the
// files has none.
func (c *accountsCache) get(aci string) (*imageAccounts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.byACI[aci]; ok {
		return a, nil
	}
	hash := strings.TrimPrefix(aci, "sha512-")
	if len(hash) < 2 {
		return nil, fmt.Errorf("bad rkt image ID %q", aci)
	}
	f, err := os.Open(filepath.Join(c.casDir, "sha512", hash[:2], aci))
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", aci, err)
	}
	defer f.Close()
	a, err := readAccounts(f)
	if err != nil {
		return nil, fmt.Errorf("reading the accounts of image %s: %w", aci, err)
	}
	c.byACI[aci] = a
	return a, nil
}

func readAccounts(r io.Reader) (*imageAccounts, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		defer gz.Close()
		r = gz
	} else {
		r = br
	}
	a := &imageAccounts{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return a, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "rootfs/etc/passwd":
			b, err := io.ReadAll(io.LimitReader(tr, 4<<20))
			if err != nil {
				return nil, err
			}
			a.users = parsePasswd(b)
		case "rootfs/etc/group":
			b, err := io.ReadAll(io.LimitReader(tr, 4<<20))
			if err != nil {
				return nil, err
			}
			a.groups = parseGroup(b)
		}
	}
}

func parsePasswd(b []byte) []passwdEntry {
	var out []passwdEntry
	for _, line := range strings.Split(string(bytes.TrimSpace(b)), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		uid, err1 := strconv.ParseInt(f[2], 10, 64)
		gid, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 == nil && err2 == nil {
			out = append(out, passwdEntry{name: f[0], uid: uid, gid: gid})
		}
	}
	return out
}

func parseGroup(b []byte) []groupEntry {
	var out []groupEntry
	for _, line := range strings.Split(string(bytes.TrimSpace(b)), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		gid, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			continue
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		out = append(out, groupEntry{name: f[0], gid: gid, members: members})
	}
	return out
}

func (a *imageAccounts) userByName(name string) (passwdEntry, bool) {
	for _, u := range a.users {
		if u.name == name {
			return u, true
		}
	}
	return passwdEntry{}, false
}

func (a *imageAccounts) userByUID(uid int64) (passwdEntry, bool) {
	for _, u := range a.users {
		if u.uid == uid {
			return u, true
		}
	}
	return passwdEntry{}, false
}

func (a *imageAccounts) groupByName(name string) (groupEntry, bool) {
	for _, g := range a.groups {
		if g.name == name {
			return g, true
		}
	}
	return groupEntry{}, false
}

// memberOf lists the gids of the groups that name user as a member.
func (a *imageAccounts) memberOf(user string) []int64 {
	var out []int64
	for _, g := range a.groups {
		for _, m := range g.members {
			if m == user {
				out = append(out, g.gid)
			}
		}
	}
	return out
}
