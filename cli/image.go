package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FetchOptions are the knobs of one `rkt fetch`.
type FetchOptions struct {
	// InsecureHTTP allows a plain-HTTP registry.
	InsecureHTTP bool
	// LocalConfigDir, when set, is used as rkt's local config directory
	// (auth.d/ with the pull's credentials).
	LocalConfigDir string
	// Env is added to rkt's environment (the registry's TLS settings).
	Env []string
}

// Fetch runs `rkt fetch` of a docker:// URL and returns the stored image's
// full ID ("sha512-…"). Images are never signed, so signature checks are off.
func (r *Rkt) Fetch(ctx context.Context, url string, opts FetchOptions) (string, error) {
	insecure := "image"
	if opts.InsecureHTTP {
		insecure += ",http"
	}
	args := []string{"--insecure-options=" + insecure}
	if opts.LocalConfigDir != "" {
		args = append(args, "--local-config="+opts.LocalConfigDir)
	}
	args = append(args, "fetch", "--full", "--pull-policy=update", url)
	out, err := r.run(ctx, opts.Env, args...)
	if err != nil {
		return "", err
	}
	return fetchedID(url, out)
}

// ImportACI stores a local ACI file (the stage1 image) in rkt's store and
// returns its full ID. It is not signed, so signature checks are off.
func (r *Rkt) ImportACI(ctx context.Context, path string) (string, error) {
	out, err := r.Run(ctx, "--insecure-options=image", "fetch", "--full", path)
	if err != nil {
		return "", err
	}
	return fetchedID(path, out)
}

// fetchedID is the image ID `rkt fetch --full` prints last.
func fetchedID(source string, out []byte) (string, error) {
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], "sha512-") {
		return "", fmt.Errorf("rkt fetch %s printed no image ID: %q", source, out)
	}
	return lines[len(lines)-1], nil
}

// ImageInfo is one entry of `rkt image list --format=json`.
type ImageInfo struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	ImportTime int64  `json:"import_time"`
	Size       uint64 `json:"size"`
}

// ImageList lists rkt's image store.
func (r *Rkt) ImageList(ctx context.Context) ([]ImageInfo, error) {
	out, err := r.Run(ctx, "image", "list", "--format=json")
	if err != nil {
		return nil, err
	}
	var list []ImageInfo
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("parsing rkt image list: %w", err)
	}
	return list, nil
}

// ImageRemove removes images from rkt's store.
func (r *Rkt) ImageRemove(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := r.Run(ctx, append([]string{"image", "rm"}, ids...)...)
	return err
}

// ImageManifest is the part of an ACI manifest rktlet reads.
type ImageManifest struct {
	Name        string     `json:"name"`
	Annotations []KeyValue `json:"annotations"`
	App         *struct {
		User  string `json:"user"`
		Group string `json:"group"`
	} `json:"app"`
}

// KeyValue is an appc name/value pair.
type KeyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Annotation returns an annotation's value, or "".
func (m ImageManifest) Annotation(name string) string {
	for _, a := range m.Annotations {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

// storePath is where rkt's content store keeps kind ("blob",
// "imageManifest") of image id: cas/<kind>/sha512/<first two hex digits>/<id>.
func (r *Rkt) storePath(kind, id string) (string, error) {
	hash, ok := strings.CutPrefix(id, "sha512-")
	if !ok || len(hash) < 2 || strings.ContainsAny(id, "/.") {
		return "", fmt.Errorf("bad rkt image ID %q", id)
	}
	return filepath.Join(r.DataDir, "cas", kind, "sha512", hash[:2], id), nil
}

// ImageBlobSize is the size of a fetched image's ACI in rkt's content store,
// read without running rkt.
func (r *Rkt) ImageBlobSize(id string) (uint64, error) {
	path, err := r.storePath("blob", id)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return uint64(fi.Size()), nil
}

// ImageStoredManifest reads a fetched image's ACI manifest from the copy
// rkt's store keeps beside the blob, without running rkt.
func (r *Rkt) ImageStoredManifest(id string) (ImageManifest, error) {
	path, err := r.storePath("imageManifest", id)
	if err != nil {
		return ImageManifest{}, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ImageManifest{}, err
	}
	var m ImageManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return ImageManifest{}, fmt.Errorf("parsing manifest of %s: %w", id, err)
	}
	return m, nil
}
