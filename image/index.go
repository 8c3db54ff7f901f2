package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/atomicfile"
)

// Image is what rktlet knows of one image. rkt's own image list knows only a
// mangled name per ACI, so the original names live here.
type Image struct {
	// ID is the image's config digest ("sha256:…"), as containerd and CRI-O
	// use: the same image pulled under two names has one ID, while rkt makes
	// one ACI per name.
	ID          string   `json:"id"`
	RepoTags    []string `json:"repoTags,omitempty"`
	RepoDigests []string `json:"repoDigests,omitempty"`
	// Size is the largest of the ACIs' sizes in rkt's store, in bytes.
	Size uint64 `json:"size"`
	// User is the image config's user ("1002", "www-data", "1003:users").
	User string `json:"user,omitempty"`
	// Entrypoint and Cmd are the image config's, which CRI commands and
	// args replace piecewise as Docker does.
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	// ACIs are rkt image IDs ("sha512-…") rendered from this image.
	ACIs []string `json:"acis"`
	// Pulled is when the image was first pulled.
	Pulled time.Time `json:"pulled"`
}

// PendingPull is a fetch under way, written before rkt starts so that a
// rktlet killed mid-pull can tell the ACI it left behind at restart.
type PendingPull struct {
	Ref            string    `json:"ref"`
	ID             string    `json:"id"`
	ManifestDigest string    `json:"manifestDigest"`
	RepoDigest     string    `json:"repoDigest"`
	Size           uint64    `json:"size"`
	User           string    `json:"user,omitempty"`
	Started        time.Time `json:"started"`
}

type indexFile struct {
	Images  []*Image                `json:"images"`
	Pending map[string]*PendingPull `json:"pending,omitempty"`
}

// Index maps names to images and persists itself atomically after every
// change.
type Index struct {
	path string

	mu      sync.RWMutex
	images  map[string]*Image
	pending map[string]*PendingPull
}

// OpenIndex loads the index at path; a missing file is an empty index.
func OpenIndex(path string) (*Index, error) {
	idx := &Index{path: path, images: map[string]*Image{}, pending: map[string]*PendingPull{}}
	// A rktlet killed while saving the index left its temporary file.
	if err := atomicfile.RemoveStale(filepath.Dir(path)); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, err
	}
	var f indexFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("image index %s: %w", path, err)
	}
	for _, img := range f.Images {
		idx.images[img.ID] = img
	}
	for k, p := range f.Pending {
		idx.pending[k] = p
	}
	return idx, nil
}

// saveLocked writes the index; the caller holds mu.
func (x *Index) saveLocked() error {
	f := indexFile{Images: make([]*Image, 0, len(x.images)), Pending: x.pending}
	for _, img := range x.images {
		f.Images = append(f.Images, img)
	}
	sort.Slice(f.Images, func(i, j int) bool { return f.Images[i].ID < f.Images[j].ID })
	b, err := json.MarshalIndent(f, "", "\t")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(x.path, b, 0o600); err != nil {
		return fmt.Errorf("writing image index: %w", err)
	}
	return nil
}

// List returns copies of all images, sorted by ID.
func (x *Index) List() []Image {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]Image, 0, len(x.images))
	for _, img := range x.images {
		out = append(out, img.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Get finds an image by ID (with or without "sha256:", or a unique prefix of
// at least 12 hex digits), by tag or by digest reference. ErrNotFound when
// nothing matches.
func (x *Index) Get(name string) (Image, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	img, err := x.findLocked(name)
	if err != nil {
		return Image{}, err
	}
	return img.clone(), nil
}

func (x *Index) findLocked(name string) (*Image, error) {
	if img, ok := x.images[name]; ok {
		return img, nil
	}
	if isHex(name) {
		if img, ok := x.images["sha256:"+name]; ok {
			return img, nil
		}
		if len(name) >= 12 {
			var found *Image
			for id, img := range x.images {
				if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), name) {
					if found != nil {
						return nil, fmt.Errorf("image ID prefix %q is ambiguous: %w", name, errdefs.ErrInvalidArgument)
					}
					found = img
				}
			}
			if found != nil {
				return found, nil
			}
		}
	}
	if ref, err := ParseReference(name); err == nil {
		for _, img := range x.images {
			if ref.Digest != "" && slices.Contains(img.RepoDigests, ref.DigestRef(ref.Digest)) {
				return img, nil
			}
			if ref.Digest == "" && slices.Contains(img.RepoTags, ref.TagRef()) {
				return img, nil
			}
		}
	}
	return nil, fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Record adds a pulled image under tagRef (may be empty) and repoDigest, with
// the ACI rkt stored it as. A tag that named another image moves here.
func (x *Index) Record(img Image, tagRef, repoDigest, aci string) (Image, error) {
	return x.FinishPull("", img, tagRef, repoDigest, aci)
}

// FinishPull records the image as Record does and forgets the pull under
// pendingKey (may be empty) in the same write: one fsync fewer per pull.
func (x *Index) FinishPull(pendingKey string, img Image, tagRef, repoDigest, aci string) (Image, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.pending, pendingKey)
	cur, ok := x.images[img.ID]
	if !ok {
		cur = &Image{ID: img.ID, Pulled: time.Now().UTC()}
		x.images[img.ID] = cur
	}
	if tagRef != "" {
		for _, other := range x.images {
			if other != cur {
				other.RepoTags = slices.DeleteFunc(other.RepoTags, func(t string) bool { return t == tagRef })
			}
		}
		if !slices.Contains(cur.RepoTags, tagRef) {
			cur.RepoTags = append(cur.RepoTags, tagRef)
			sort.Strings(cur.RepoTags)
		}
	}
	if repoDigest != "" && !slices.Contains(cur.RepoDigests, repoDigest) {
		cur.RepoDigests = append(cur.RepoDigests, repoDigest)
		sort.Strings(cur.RepoDigests)
	}
	if aci != "" && !slices.Contains(cur.ACIs, aci) {
		cur.ACIs = append(cur.ACIs, aci)
	}
	if img.Size > cur.Size {
		cur.Size = img.Size
	}
	if img.User != "" {
		cur.User = img.User
	}
	if img.Entrypoint != nil || img.Cmd != nil {
		cur.Entrypoint, cur.Cmd = img.Entrypoint, img.Cmd
	}
	return cur.clone(), x.saveLocked()
}

// Untag removes one tag or digest reference from the image it names. It
// returns the image as it is afterwards and whether it still has a name.
func (x *Index) Untag(name string) (Image, bool, error) {
	ref, err := ParseReference(name)
	if err != nil {
		return Image{}, false, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	img, err := x.findLocked(name)
	if err != nil {
		return Image{}, false, err
	}
	if ref.Digest != "" {
		img.RepoDigests = slices.DeleteFunc(img.RepoDigests, func(d string) bool { return d == ref.DigestRef(ref.Digest) })
	} else {
		img.RepoTags = slices.DeleteFunc(img.RepoTags, func(t string) bool { return t == ref.TagRef() })
	}
	named := len(img.RepoTags) > 0
	return img.clone(), named, x.saveLocked()
}

// Delete drops an image by ID.
func (x *Index) Delete(id string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.images[id]; !ok {
		return nil
	}
	delete(x.images, id)
	return x.saveLocked()
}

// DeleteACIs drops ACI IDs from every image, and images left with none.
func (x *Index) DeleteACIs(gone map[string]bool) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	changed := false
	for id, img := range x.images {
		n := len(img.ACIs)
		img.ACIs = slices.DeleteFunc(img.ACIs, func(a string) bool { return gone[a] })
		if len(img.ACIs) != n {
			changed = true
		}
		if len(img.ACIs) == 0 {
			delete(x.images, id)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return x.saveLocked()
}

// StartPull records a fetch about to start under key.
func (x *Index) StartPull(key string, p PendingPull) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.pending[key] = &p
	return x.saveLocked()
}

// EndPull forgets a fetch.
func (x *Index) EndPull(key string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.pending[key]; !ok {
		return nil
	}
	delete(x.pending, key)
	return x.saveLocked()
}

// Pending returns the fetches that were under way when rktlet last stopped.
func (x *Index) Pending() map[string]PendingPull {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[string]PendingPull, len(x.pending))
	for k, p := range x.pending {
		out[k] = *p
	}
	return out
}

// HasACI tells whether any image uses the ACI.
func (x *Index) HasACI(aci string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, img := range x.images {
		if slices.Contains(img.ACIs, aci) {
			return true
		}
	}
	return false
}

func (img *Image) clone() Image {
	c := *img
	c.RepoTags = slices.Clone(img.RepoTags)
	c.RepoDigests = slices.Clone(img.RepoDigests)
	c.ACIs = slices.Clone(img.ACIs)
	c.Entrypoint = slices.Clone(img.Entrypoint)
	c.Cmd = slices.Clone(img.Cmd)
	return c
}
