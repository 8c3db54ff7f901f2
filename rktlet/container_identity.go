package rktlet

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// identity is the user a container's process runs as.
type identity struct {
	UID    int64   `json:"uid"`
	GID    int64   `json:"gid"`
	Groups []int64 `json:"groups"` // the primary group first, as the CRI reports them
}

// resolveIdentity works out uid, gid and groups from the security context
// and the image's user and accounts, as the kubelet's other runtimes do:
// RunAsUser/RunAsUsername over the image's user, RunAsGroup over the image's
// group over the user's primary group; with SupplementalGroupsPolicy Merge
// (the default) the groups the image's /etc/group gives the user are added
// to SupplementalGroups, with Strict they are not.
func resolveIdentity(sc *runtimeapi.LinuxContainerSecurityContext, imageUser string, accts *imageAccounts) (identity, error) {
	if sc.GetRunAsGroup() != nil && sc.GetRunAsUser() == nil && sc.GetRunAsUsername() == "" {
		return identity{}, fmt.Errorf("config.linux.security_context.run_as_group is set without run_as_user or run_as_username: %w", ErrInvalidArgument)
	}
	userPart, groupPart, _ := strings.Cut(imageUser, ":")
	var id identity
	name := ""
	gidKnown := false
	switch {
	case sc.GetRunAsUser() != nil:
		id.UID = sc.GetRunAsUser().GetValue()
	case sc.GetRunAsUsername() != "":
		userPart, groupPart = sc.GetRunAsUsername(), ""
		fallthrough
	default:
		if userPart == "" {
			userPart = "0"
		}
		if uid, err := strconv.ParseInt(userPart, 10, 64); err == nil {
			id.UID = uid
		} else {
			u, ok := accts.userByName(userPart)
			if !ok {
				return identity{}, fmt.Errorf("user %q is not in the image's /etc/passwd: %w", userPart, ErrInvalidArgument)
			}
			id.UID, id.GID, name, gidKnown = u.uid, u.gid, u.name, true
		}
	}
	if u, ok := accts.userByUID(id.UID); ok {
		name = u.name
		if !gidKnown {
			id.GID, gidKnown = u.gid, true
		}
	}
	switch {
	case sc.GetRunAsGroup() != nil:
		id.GID = sc.GetRunAsGroup().GetValue()
	case groupPart != "" && sc.GetRunAsUser() == nil:
		if gid, err := strconv.ParseInt(groupPart, 10, 64); err == nil {
			id.GID = gid
		} else if g, ok := accts.groupByName(groupPart); ok {
			id.GID = g.gid
		} else {
			return identity{}, fmt.Errorf("group %q is not in the image's /etc/group: %w", groupPart, ErrInvalidArgument)
		}
	}
	id.Groups = []int64{id.GID}
	add := func(g int64) {
		if !slices.Contains(id.Groups, g) {
			id.Groups = append(id.Groups, g)
		}
	}
	for _, g := range sc.GetSupplementalGroups() {
		add(g)
	}
	if sc.GetSupplementalGroupsPolicy() == runtimeapi.SupplementalGroupsPolicy_Merge && name != "" {
		for _, g := range accts.memberOf(name) {
			add(g)
		}
	}
	return id, nil
}
