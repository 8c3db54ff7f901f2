package appspec

import (
	"fmt"
	"strings"

	"github.com/rktlet/rktlet/errdefs"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// CheckNoNUL refuses a request whose strings hold a NUL byte anywhere,
// naming the field: no command line, unit property (D-Bus refuses it as a
// wire format error) or file name can carry one, and no valid CRI value
// has one.
func CheckNoNUL(field string, m proto.Message) error {
	if m == nil {
		return nil
	}
	if path, ok := findNUL(m.ProtoReflect(), field); ok {
		return fmt.Errorf("%s holds a NUL byte: %w", path, errdefs.ErrInvalidArgument)
	}
	return nil
}

func findNUL(m protoreflect.Message, path string) (string, bool) {
	var found string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		here := path + "." + string(fd.Name())
		switch {
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if strings.IndexByte(k.String(), 0) >= 0 {
					found = here + " key"
					return false
				}
				if p, ok := valueNUL(fd.MapValue(), mv, fmt.Sprintf("%s[%q]", here, k.String())); ok {
					found = p
					return false
				}
				return true
			})
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				if p, ok := valueNUL(fd, l.Get(i), fmt.Sprintf("%s[%d]", here, i)); ok {
					found = p
					break
				}
			}
		default:
			if p, ok := valueNUL(fd, v, here); ok {
				found = p
			}
		}
		return found == ""
	})
	return found, found != ""
}

func valueNUL(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) (string, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return path, strings.IndexByte(v.String(), 0) >= 0
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return findNUL(v.Message(), path)
	}
	return "", false
}
