package rktlet

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/image"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PullImage pulls an image with rkt's fetcher and returns its ID.
func (s *Service) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, fmt.Errorf("image.image is empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := validateAuth(req.GetAuth()); err != nil {
		return nil, err
	}
	var auth *image.Auth
	if a := req.GetAuth(); a != nil {
		auth = &image.Auth{
			Username:      a.GetUsername(),
			Password:      a.GetPassword(),
			Auth:          a.GetAuth(),
			IdentityToken: a.GetIdentityToken(),
			RegistryToken: a.GetRegistryToken(),
		}
	}
	img, err := s.images.Pull(ctx, ref, auth)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PullImageResponse{ImageRef: img.ID}, nil
}

// validateAuth refuses credentials an HTTP request cannot carry: they end
// up in an Authorization header (or rkt's auth config), where a control
// character is refused only at the request, as if the registry were down.
func validateAuth(a *runtimeapi.AuthConfig) error {
	for _, f := range []struct{ field, v string }{
		{"username", a.GetUsername()}, {"password", a.GetPassword()}, {"auth", a.GetAuth()},
		{"identity_token", a.GetIdentityToken()}, {"registry_token", a.GetRegistryToken()},
		{"server_address", a.GetServerAddress()},
	} {
		if strings.IndexFunc(f.v, unicode.IsControl) >= 0 {
			return fmt.Errorf("auth.%s holds a control character: %w", f.field, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
