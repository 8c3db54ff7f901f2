package rktlet

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/image"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListImages lists images from the index; no rkt process runs.
func (s *Service) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	if name := req.GetFilter().GetImage().GetImage(); name != "" {
		img, err := s.images.Get(name)
		if errors.Is(err, errdefs.ErrNotFound) {
			return &runtimeapi.ListImagesResponse{}, nil
		}
		if err != nil {
			return nil, err
		}
		return &runtimeapi.ListImagesResponse{Images: []*runtimeapi.Image{toCRIImage(img)}}, nil
	}
	list := s.images.List()
	resp := &runtimeapi.ListImagesResponse{Images: make([]*runtimeapi.Image, 0, len(list))}
	for _, img := range list {
		resp.Images = append(resp.Images, toCRIImage(img))
	}
	return resp, nil
}

func toCRIImage(img image.Image) *runtimeapi.Image {
	out := &runtimeapi.Image{
		Id:          img.ID,
		RepoTags:    img.RepoTags,
		RepoDigests: img.RepoDigests,
		Size:        img.Size,
		Spec:        &runtimeapi.ImageSpec{Image: img.ID},
	}
	out.Uid, out.Username = imageUser(img.User)
	return out
}

// imageUser splits an image config's user ("uid", "name", "uid:gid",
// "name:group") into the CRI's uid or username; the group is not reported.
func imageUser(user string) (*runtimeapi.Int64Value, string) {
	u, _, _ := strings.Cut(user, ":")
	if u == "" {
		return nil, ""
	}
	if uid, err := strconv.ParseInt(u, 10, 64); err == nil {
		return &runtimeapi.Int64Value{Value: uid}, ""
	}
	return nil, u
}
