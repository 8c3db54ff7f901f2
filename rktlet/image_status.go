package rktlet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rktlet/rktlet/errdefs"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ImageStatus reports one image by ID, tag or digest; an unknown image is an
// empty answer, not an error (the kubelet asks before pulling).
func (s *Service) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	name := req.GetImage().GetImage()
	if name == "" {
		return nil, fmt.Errorf("image.image is empty: %w", errdefs.ErrInvalidArgument)
	}
	img, err := s.images.Get(name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ImageStatusResponse{Image: toCRIImage(img)}
	if req.GetVerbose() {
		info, err := json.Marshal(map[string]any{
			"acis":   img.ACIs,
			"user":   img.User,
			"pulled": img.Pulled,
		})
		if err != nil {
			return nil, err
		}
		resp.Info = map[string]string{"info": string(info)}
	}
	return resp, nil
}
