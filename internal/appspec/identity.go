package appspec

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/image"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Identity is the user a container's process runs as.
type Identity struct {
	UID    int64   `json:"uid"`
	GID    int64   `json:"gid"`
	Groups []int64 `json:"groups"` // the primary group first, as the CRI reports them
}

// ResolveIdentity works out uid, gid and groups from the security context
// and the image's user and accounts, as the kubelet's other runtimes do:
// RunAsUser/RunAsUsername over the image's user, RunAsGroup over the image's
// group over the user's primary group; with SupplementalGroupsPolicy Merge
// (the default) the groups the image's /etc/group gives the user are added
// to SupplementalGroups, with Strict they are not.
func ResolveIdentity(sc *runtimeapi.LinuxContainerSecurityContext, imageUser string, accts *image.Accounts) (Identity, error) {
	if sc.GetRunAsGroup() != nil && sc.GetRunAsUser() == nil && sc.GetRunAsUsername() == "" {
		return Identity{}, fmt.Errorf("config.linux.security_context.run_as_group is set without run_as_user or run_as_username: %w", errdefs.ErrInvalidArgument)
	}
	if v := sc.GetRunAsUser(); v != nil {
		if err := checkID("config.linux.security_context.run_as_user", v.GetValue()); err != nil {
			return Identity{}, err
		}
	}
	if v := sc.GetRunAsGroup(); v != nil {
		if err := checkID("config.linux.security_context.run_as_group", v.GetValue()); err != nil {
			return Identity{}, err
		}
	}
	for i, g := range sc.GetSupplementalGroups() {
		if err := checkID(fmt.Sprintf("config.linux.security_context.supplemental_groups[%d]", i), g); err != nil {
			return Identity{}, err
		}
	}
	userPart, groupPart, _ := strings.Cut(imageUser, ":")
	var id Identity
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
			u, ok := accts.UserByName(userPart)
			if !ok {
				return Identity{}, fmt.Errorf("user %q is not in the image's /etc/passwd: %w", userPart, errdefs.ErrInvalidArgument)
			}
			id.UID, id.GID, name, gidKnown = u.UID, u.GID, u.Name, true
		}
	}
	if u, ok := accts.UserByUID(id.UID); ok {
		name = u.Name
		if !gidKnown {
			id.GID, gidKnown = u.GID, true
		}
	}
	switch {
	case sc.GetRunAsGroup() != nil:
		id.GID = sc.GetRunAsGroup().GetValue()
	case groupPart != "" && sc.GetRunAsUser() == nil:
		if gid, err := strconv.ParseInt(groupPart, 10, 64); err == nil {
			id.GID = gid
		} else if g, ok := accts.GroupByName(groupPart); ok {
			id.GID = g.GID
		} else {
			return Identity{}, fmt.Errorf("group %q is not in the image's /etc/group: %w", groupPart, errdefs.ErrInvalidArgument)
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
		for _, g := range accts.MemberOf(name) {
			add(g)
		}
	}
	// What came from the image (its USER, its /etc/passwd and /etc/group)
	// is checked too: stage1 would cut a larger ID to 32 bits, and USER
	// 4294967296 would run as root.
	if err := checkID(fmt.Sprintf("the uid of user %q (the image's user or its /etc/passwd)", imageUser), id.UID); err != nil {
		return Identity{}, err
	}
	for _, g := range id.Groups {
		if err := checkID(fmt.Sprintf("a gid of user %q (the image's user or its /etc/group)", imageUser), g); err != nil {
			return Identity{}, err
		}
	}
	return id, nil
}

// maxID is the largest uid or gid a container may have: Kubernetes's own
// bound (its API validation), well below (uid_t)-1, which the kernel
// reserves as "no ID".
const maxID = math.MaxInt32

// checkID refuses a uid or gid outside 0..maxID, naming where it came from.
func checkID(what string, v int64) error {
	if v < 0 || v > maxID {
		return fmt.Errorf("%s is %d, outside 0..%d: %w", what, v, maxID, errdefs.ErrInvalidArgument)
	}
	return nil
}
