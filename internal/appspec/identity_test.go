package appspec

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/image"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var testAccounts = image.ParseAccounts(
	[]byte("root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\ndefault-user:x:1000:1000::/home/default-user:/bin/sh\n"),
	[]byte("root:x:0:\nwww-data:x:33:\nusers:x:100:\ndefault-user:x:1000:\n"+
		"group-defined-in-image:x:50000:default-user\n"))

func TestResolveIdentity(t *testing.T) {
	uid := func(v int64) *runtimeapi.Int64Value { return &runtimeapi.Int64Value{Value: v} }
	for _, tc := range []struct {
		name      string
		sc        *runtimeapi.LinuxContainerSecurityContext
		imageUser string
		want      Identity
	}{
		{"image default is root", nil, "", Identity{0, 0, []int64{0}}},
		{"image uid", nil, "1002", Identity{1002, 0, []int64{0}}},
		{"image user name", nil, "www-data", Identity{33, 33, []int64{33}}},
		{"image uid:group name", nil, "1003:users", Identity{1003, 100, []int64{100}}},
		{"image name:group", nil, "www-data:www-data", Identity{33, 33, []int64{33}}},
		{"RunAsUser wins over the image", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(1000)}, "www-data",
			Identity{1000, 1000, []int64{1000, 50000}}},
		{"merge adds the image's groups after SupplementalGroups",
			&runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(1000), SupplementalGroups: []int64{1234}}, "1000",
			Identity{1000, 1000, []int64{1000, 1234, 50000}}},
		{"strict does not",
			&runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(1000), SupplementalGroups: []int64{1234}, SupplementalGroupsPolicy: runtimeapi.SupplementalGroupsPolicy_Strict}, "1000",
			Identity{1000, 1000, []int64{1000, 1234}}},
		{"RunAsGroup", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(1000), RunAsGroup: uid(2000)}, "",
			Identity{1000, 2000, []int64{2000, 50000}}},
		{"RunAsUsername", &runtimeapi.LinuxContainerSecurityContext{RunAsUsername: "www-data"}, "1000", Identity{33, 33, []int64{33}}},
	} {
		got, err := ResolveIdentity(tc.sc, tc.imageUser, testAccounts)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.UID != tc.want.UID || got.GID != tc.want.GID || !slices.Equal(got.Groups, tc.want.Groups) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestResolveIdentityRefuses(t *testing.T) {
	for _, tc := range []struct {
		sc        *runtimeapi.LinuxContainerSecurityContext
		imageUser string
		mention   string
	}{
		{&runtimeapi.LinuxContainerSecurityContext{RunAsGroup: &runtimeapi.Int64Value{Value: 1}}, "", "run_as_group"},
		{nil, "nobody-here", "nobody-here"},
		{nil, "1000:no-such-group", "no-such-group"},
		// IDs outside 0..2^31-1: stage1 would cut them to 32 bits.
		{&runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: 4294967295}}, "", "run_as_user is 4294967295"},
		{&runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: -1}}, "", "run_as_user is -1"},
		{&runtimeapi.LinuxContainerSecurityContext{RunAsUser: &runtimeapi.Int64Value{Value: 1}, RunAsGroup: &runtimeapi.Int64Value{Value: 1 << 40}}, "", "run_as_group"},
		{&runtimeapi.LinuxContainerSecurityContext{SupplementalGroups: []int64{5, -3}}, "", "supplemental_groups[1] is -3"},
		{nil, "4294967296", "4294967296"},
		{nil, "1000:4294967296", "4294967296"},
	} {
		_, err := ResolveIdentity(tc.sc, tc.imageUser, testAccounts)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%v %q: %v", tc.sc, tc.imageUser, err)
		}
	}
}
