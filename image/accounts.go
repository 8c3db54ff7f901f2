package image

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

// Accounts is an image's /etc/passwd and /etc/group, read from its
// ACI in rkt's store.
type Accounts struct {
	users  []User
	groups []Group
}

// User is an entry of an image's /etc/passwd.
type User struct {
	Name     string
	UID, GID int64
}

// Group is an entry of an image's /etc/group.
type Group struct {
	Name    string
	GID     int64
	Members []string
}

// AccountsCache reads each ACI's accounts once.
type AccountsCache struct {
	casDir string
	mu     sync.Mutex
	byACI  map[string]*Accounts
}

// NewAccountsCache reads the ACIs in rkt's store under rktDataDir.
func NewAccountsCache(rktDataDir string) *AccountsCache {
	return &AccountsCache{casDir: filepath.Join(rktDataDir, "cas", "blob"), byACI: map[string]*Accounts{}}
}

// Forget drops what is cached of an ACI, when its image is removed.
func (c *AccountsCache) Forget(aci string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byACI, aci)
}

// Get returns the accounts of an ACI ("sha512-…"); an image without the
// files has none.
func (c *AccountsCache) Get(aci string) (*Accounts, error) {
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

func readAccounts(r io.Reader) (*Accounts, error) {
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
	a := &Accounts{}
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

// ParseAccounts reads /etc/passwd and /etc/group contents.
func ParseAccounts(passwd, group []byte) *Accounts {
	return &Accounts{users: parsePasswd(passwd), groups: parseGroup(group)}
}

func parsePasswd(b []byte) []User {
	var out []User
	for _, line := range strings.Split(string(bytes.TrimSpace(b)), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 4 {
			continue
		}
		uid, err1 := strconv.ParseInt(f[2], 10, 64)
		gid, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 == nil && err2 == nil {
			out = append(out, User{Name: f[0], UID: uid, GID: gid})
		}
	}
	return out
}

func parseGroup(b []byte) []Group {
	var out []Group
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
		out = append(out, Group{Name: f[0], GID: gid, Members: members})
	}
	return out
}

// UserByName finds a user by name.
func (a *Accounts) UserByName(name string) (User, bool) {
	for _, u := range a.users {
		if u.Name == name {
			return u, true
		}
	}
	return User{}, false
}

// UserByUID finds a user by uid.
func (a *Accounts) UserByUID(uid int64) (User, bool) {
	for _, u := range a.users {
		if u.UID == uid {
			return u, true
		}
	}
	return User{}, false
}

// GroupByName finds a group by name.
func (a *Accounts) GroupByName(name string) (Group, bool) {
	for _, g := range a.groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// MemberOf lists the gids of the groups that name user as a member.
func (a *Accounts) MemberOf(user string) []int64 {
	var out []int64
	for _, g := range a.groups {
		for _, m := range g.Members {
			if m == user {
				out = append(out, g.GID)
			}
		}
	}
	return out
}
