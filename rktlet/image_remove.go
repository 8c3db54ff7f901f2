package rktlet

import (
	"context"
	"fmt"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveImage removes an image by ID, or one of its tags or digests; an
// unknown image is not an error.
func (s *Service) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	name := req.GetImage().GetImage()
	if name == "" {
		return nil, fmt.Errorf("image.image is empty: %w", errdefs.ErrInvalidArgument)
	}
	img, lookupErr := s.images.Get(name)
	if err := s.images.Remove(ctx, name); err != nil {
		return nil, err
	}
	if _, err := s.images.Get(img.ID); lookupErr == nil && err != nil {
		// The image is gone (not only one of its tags): what is cached
		// of its ACIs goes with them.
		for _, aci := range img.ACIs {
			s.accounts.Forget(aci)
		}
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}
