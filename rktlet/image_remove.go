package rktlet

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemoveImage removes an image by ID, or one of its tags or digests; an
// unknown image is not an error.
func (s *Service) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	name := req.GetImage().GetImage()
	if name == "" {
		return nil, fmt.Errorf("image.image is empty: %w", ErrInvalidArgument)
	}
	if err := s.images.Remove(ctx, name); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}
