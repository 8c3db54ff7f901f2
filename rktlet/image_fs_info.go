package rktlet

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/rktlet/rktlet/image"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fsUsageTTL is how long a measurement of the image and pod stores is reused:
// the kubelet asks every few seconds and a walk of a large store is not free.
const fsUsageTTL = 5 * time.Second

// fsUsageCache measures a directory at most once per TTL; concurrent callers
// share one walk.
type fsUsageCache struct {
	dir string

	mu       sync.Mutex
	measured time.Time
	usage    image.Usage
}

func (c *fsUsageCache) get() (image.Usage, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.measured) < fsUsageTTL {
		return c.usage, c.measured, nil
	}
	u, err := image.DirUsage(c.dir)
	if err != nil {
		return image.Usage{}, time.Time{}, err
	}
	c.usage, c.measured = u, time.Now()
	return u, c.measured, nil
}

// ImageFsInfo reports what rkt's image store (its content-addressed store
// and the trees rendered from it) and its pods' writable layers use.
func (s *Service) ImageFsInfo(ctx context.Context, _ *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	images, imagesAt, err := s.imageFS.get()
	if err != nil {
		return nil, err
	}
	pods, podsAt, err := s.podFS.get()
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ImageFsInfoResponse{
		ImageFilesystems:     []*runtimeapi.FilesystemUsage{filesystemUsage(images, imagesAt)},
		ContainerFilesystems: []*runtimeapi.FilesystemUsage{filesystemUsage(pods, podsAt)},
	}, nil
}

func filesystemUsage(u image.Usage, at time.Time) *runtimeapi.FilesystemUsage {
	return &runtimeapi.FilesystemUsage{
		Timestamp:  at.UnixNano(),
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: u.Mountpoint},
		UsedBytes:  &runtimeapi.UInt64Value{Value: u.Bytes},
		InodesUsed: &runtimeapi.UInt64Value{Value: u.Inodes},
	}
}

func newStoreCaches(rktDataDir string) (images, pods *fsUsageCache) {
	return &fsUsageCache{dir: filepath.Join(rktDataDir, "cas")}, &fsUsageCache{dir: filepath.Join(rktDataDir, "pods")}
}
