// Package image keeps the images rktlet pulled: an index of CRI image
// names and IDs over rkt's image store, pulls through rkt's fetcher, and
// the disk usage of the store.
package image

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/errdefs"
	"github.com/rktlet/rktlet/internal/metrics"
	"github.com/rktlet/rktlet/internal/panics"
	"golang.org/x/sync/singleflight"
)

// rktImages is what the store needs of rkt.
type rktImages interface {
	Fetch(ctx context.Context, url string, opts cli.FetchOptions) (string, error)
	ImageList(ctx context.Context) ([]cli.ImageInfo, error)
	ImageRemove(ctx context.Context, ids ...string) error
	ImageBlobSize(id string) (uint64, error)
	ImageStoredManifest(id string) (cli.ImageManifest, error)
}

// Store is rktlet's image store: rkt's image store plus the index of
// original names. Reads are answered from the index alone.
type Store struct {
	rkt        rktImages
	index      *Index
	registries Registries
	transports transports
	stateDir   string
	log        *slog.Logger

	pulls singleflight.Group
	// removeMu keeps a removal from racing a pull of the same image.
	removeMu sync.Mutex
}

// NewStore opens the index under stateDir. Pulls try a host's mirrors first
// (only them with MirrorsOnly), each reached with its host's TLS settings.
// The registry credentials a killed rktlet left in stateDir/tmp (rkt's
// auth configs for pulls in flight) are removed. rktlet opens the store
// after it took its socket's lock, when no other rktlet of this state dir
// runs.
func NewStore(rkt rktImages, stateDir string, registries Registries, log *slog.Logger) (*Store, error) {
	if err := os.RemoveAll(filepath.Join(stateDir, "tmp")); err != nil {
		return nil, fmt.Errorf("removing the credentials of interrupted pulls: %w", err)
	}
	idx, err := OpenIndex(filepath.Join(stateDir, "images.json"))
	if err != nil {
		return nil, err
	}
	return &Store{rkt: rkt, index: idx, registries: registries, stateDir: stateDir, log: log}, nil
}

// Pull pulls ref and returns the image. Concurrent pulls of one reference
// with the same credentials share one fetch: a pull without them, or with
// others, must not get an image it may not be allowed to read. An image
// already stored under its config digest is only tagged, not fetched again.
func (s *Store) Pull(ctx context.Context, refStr string, auth *Auth) (Image, error) {
	ref, err := ParseReference(refStr)
	if err != nil {
		return Image{}, err
	}
	ch := s.pulls.DoChan(ref.String()+"\x00"+auth.fingerprint(), func() (any, error) {
		// The shared fetch must not die with the first caller's context; it
		// has its own deadline, and each caller stops waiting on its own.
		fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), PullTimeout)
		defer cancel()
		return s.pull(fetchCtx, ref, auth)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return Image{}, res.Err
		}
		return res.Val.(Image), nil
	case <-ctx.Done():
		return Image{}, fmt.Errorf("pulling %q: %w", ref, ctx.Err())
	}
}

func (s *Store) pull(ctx context.Context, ref Reference, auth *Auth) (Image, error) {
	start := time.Now()
	eps := s.registries.endpoints(ref)
	// A reference the index does not know yet is most likely a new image:
	// rkt's fetch of it by name starts now, alongside the registry resolve,
	// instead of ~20 ms later. What it stored is used only if it is the
	// manifest the resolve found.
	var early *fetchJob
	if _, err := s.index.Get(ref.String()); errors.Is(err, errdefs.ErrNotFound) && len(eps) > 0 {
		early = s.startFetch(ctx, ref, eps[0], nameURL(ref, eps[0]), auth)
	}
	r, err := resolve(ctx, ref, eps, auth, &s.transports)
	resolved := time.Now()
	if err != nil {
		s.abandon(early)
		return Image{}, err
	}
	id := r.config.String()
	repoDigest := ref.DigestRef(r.repoDigest)
	configCh := make(chan configResult, 1)
	go func() {
		defer panics.Recover("reading an image config", func(err error) { configCh <- configResult{err: err} })
		cfg, err := r.readConfig()
		configCh <- configResult{cfg, err}
	}()
	if existing, err := s.index.Get(id); err == nil && len(existing.ACIs) > 0 {
		s.abandon(early)
		cfg := <-configCh
		if cfg.err != nil {
			return Image{}, cfg.err
		}
		return s.index.Record(Image{ID: id, User: cfg.user, Size: r.size, Entrypoint: cfg.entrypoint, Cmd: cfg.cmd}, ref.TagRef(), repoDigest, "")
	}

	// The pending record only names the pull in recovery's log (recovery
	// removes every unrecorded ACI), so it is written alongside rkt's fetch
	// rather than before it: a pull waits for one fsync less.
	pendingKey := r.manifest.String()
	startCh := make(chan error, 1)
	started := sync.OnceValue(func() error { return <-startCh })
	go func() {
		defer panics.Recover("recording a pending pull", func(err error) { startCh <- err })
		startCh <- s.index.StartPull(pendingKey, PendingPull{
			Ref: ref.String(), ID: id, ManifestDigest: r.manifest.String(), RepoDigest: repoDigest,
		})
	}()
	recorded := false
	defer func() {
		if recorded {
			return
		}
		if started() != nil {
			return
		}
		if err := s.index.EndPull(pendingKey); err != nil {
			s.log.Error("forgetting a finished pull", "ref", ref.String(), "error", err)
		}
	}()

	aci := ""
	// The early fetch followed the name at the first endpoint; an index
	// (docker2aci cannot read an OCI one) or another endpoint means the
	// manifest is fetched by digest instead.
	if early != nil && r.endpoint == eps[0] && r.repoDigest == r.manifest {
		aci = s.earlyResult(early, r)
	} else {
		s.abandon(early)
	}
	how := "by name, alongside the resolve"
	if aci == "" {
		how = "by digest"
		job := s.startFetch(ctx, ref, r.endpoint, fetchURL(r, ref.Path()), auth)
		<-job.done
		if job.err != nil {
			return Image{}, errRktFetch(ref, r, job.err)
		}
		aci = job.aci
	}
	fetched := time.Now()
	cfg := <-configCh
	if cfg.err != nil {
		// Not an image rktlet can run: the fetched ACI goes again.
		if err := s.rkt.ImageRemove(context.WithoutCancel(ctx), aci); err != nil {
			s.log.Warn("removing a fetched image that cannot be used", "aci", aci, "error", err)
		}
		return Image{}, cfg.err
	}
	if err := started(); err != nil {
		return Image{}, fmt.Errorf("recording the pull of %q: %w", ref, err)
	}
	size := s.aciSize(aci)
	if size == 0 {
		size = r.size
	}
	recorded = true
	img, err := s.index.FinishPull(pendingKey, Image{ID: id, User: cfg.user, Size: size, Entrypoint: cfg.entrypoint, Cmd: cfg.cmd}, ref.TagRef(), repoDigest, aci)
	if err == nil {
		metrics.ImagePulls.Observe(time.Since(start).Seconds())
		metrics.ImagePullBytes.Add(float64(size))
	}
	s.log.Debug("pulled", "ref", ref.String(), "aci", aci, "fetched", how,
		"resolve", resolved.Sub(start), "fetch", fetched.Sub(start), "record", time.Since(fetched))
	return img, err
}

// fetchJob is one `rkt fetch` running in the background.
type fetchJob struct {
	url    string
	cancel context.CancelFunc
	done   chan struct{}
	aci    string
	err    error
}

// startFetch starts rkt's fetch of url from ep, with a per-fetch auth
// config when the pull has credentials.
func (s *Store) startFetch(ctx context.Context, ref Reference, ep endpoint, url string, auth *Auth) *fetchJob {
	ctx, cancel := context.WithCancel(ctx)
	job := &fetchJob{url: url, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(job.done)
		defer cancel()
		defer panics.Recover("fetching "+url, func(err error) { job.err = err })
		opts := cli.FetchOptions{InsecureHTTP: ep.insecure, Env: rktTLSEnv(ep)}
		if !auth.empty() {
			dir, err := writeAuthDir(filepath.Join(s.stateDir, "tmp"), ep.host, auth)
			if err != nil {
				job.err = err
				return
			}
			defer os.RemoveAll(dir)
			opts.LocalConfigDir = dir
		}
		job.aci, job.err = s.rkt.Fetch(ctx, url, opts)
	}()
	return job
}

// earlyResult waits for the fetch started before the resolve and returns
// its ACI if it holds the manifest the resolve found, or "" after undoing
// it when it does not (the tag moved in between, or the fetch failed: the
// caller fetches by digest, which reports errors exactly).
func (s *Store) earlyResult(job *fetchJob, r resolved) string {
	<-job.done
	if job.err != nil {
		s.log.Debug("fetch by name failed; fetching by digest", "url", job.url, "error", job.err)
		return ""
	}
	m, err := s.rkt.ImageStoredManifest(job.aci)
	if err == nil && m.Annotation("appc.io/docker/manifesthash") == r.manifest.String() {
		return job.aci
	}
	s.log.Debug("fetch by name got another manifest; fetching by digest", "url", job.url, "want", r.manifest.String(), "error", err)
	s.discard(job.aci)
	return ""
}

// abandon stops a fetch whose result is not wanted and removes what it
// stored, unless the index holds it for an image.
func (s *Store) abandon(job *fetchJob) {
	if job == nil {
		return
	}
	job.cancel()
	<-job.done
	if job.err == nil {
		s.discard(job.aci)
	}
}

func (s *Store) discard(aci string) {
	s.removeMu.Lock()
	defer s.removeMu.Unlock()
	if s.index.HasACI(aci) {
		return
	}
	if err := s.rkt.ImageRemove(context.Background(), aci); err != nil {
		s.log.Warn("removing an image fetched in vain", "aci", aci, "error", err)
	}
}

type configResult struct {
	imageConfig
	err error
}

// aciSize is the size of the ACI in rkt's store, read from the file: a
// second rkt process (`rkt image list`) cost a pull about 100 ms.
func (s *Store) aciSize(aci string) uint64 {
	size, err := s.rkt.ImageBlobSize(aci)
	if err != nil {
		s.log.Warn("reading an image's size", "aci", aci, "error", err)
		return 0
	}
	return size
}

// Get finds an image by ID, tag or digest.
func (s *Store) Get(name string) (Image, error) { return s.index.Get(name) }

// List lists every image.
func (s *Store) List() []Image { return s.index.List() }

// Remove removes what name names: a tag or digest reference of an image
// that has other tags loses only that name; an ID, or the last tag, removes
// the image and its ACIs. An unknown image is not an error.
func (s *Store) Remove(ctx context.Context, name string) error {
	s.removeMu.Lock()
	defer s.removeMu.Unlock()
	img, err := s.index.Get(name)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	isID := name == img.ID || isHex(name) && strings.HasPrefix(strings.TrimPrefix(img.ID, "sha256:"), name)
	if !isID {
		after, named, err := s.index.Untag(name)
		if err != nil {
			return err
		}
		if named {
			return nil
		}
		img = after
	}
	if err := s.rkt.ImageRemove(ctx, img.ACIs...); err != nil {
		// An ACI already gone is what we wanted; anything else is kept in
		// the index so a retry can finish the job.
		if still := s.existingACIs(ctx, img.ACIs); len(still) > 0 {
			return fmt.Errorf("removing image %s: %w", img.ID, err)
		}
	}
	return s.index.Delete(img.ID)
}

func (s *Store) existingACIs(ctx context.Context, acis []string) []string {
	list, err := s.rkt.ImageList(ctx)
	if err != nil {
		return acis
	}
	have := map[string]bool{}
	for _, i := range list {
		have[i.ID] = true
	}
	var out []string
	for _, a := range acis {
		if have[a] {
			out = append(out, a)
		}
	}
	return out
}

// Reconcile checks the index against rkt's store at start: images whose
// ACIs are all gone are dropped; an ACI a pull stored just before rktlet was
// killed is recorded if its pull was known, and removed otherwise.
func (s *Store) Reconcile(ctx context.Context) error {
	list, err := s.rkt.ImageList(ctx)
	if err != nil {
		return fmt.Errorf("listing rkt's images: %w", err)
	}
	have := map[string]cli.ImageInfo{}
	for _, i := range list {
		have[i.ID] = i
	}
	gone := map[string]bool{}
	for _, img := range s.index.List() {
		for _, a := range img.ACIs {
			if _, ok := have[a]; !ok {
				gone[a] = true
			}
		}
	}
	if len(gone) > 0 {
		s.log.Warn("images missing from rkt's store dropped from the index", "acis", len(gone))
		if err := s.index.DeleteACIs(gone); err != nil {
			return err
		}
	}

	pending := s.index.Pending()
	for _, info := range list {
		if s.index.HasACI(info.ID) {
			continue
		}
		m, err := s.rkt.ImageStoredManifest(info.ID)
		if err != nil {
			return err
		}
		// Only ACIs converted from docker images are ours to judge; stage1
		// and anything else an operator imported are left alone.
		if m.Annotation("appc.io/docker/registryurl") == "" {
			continue
		}
		// A pull interrupted after rkt stored the image did not record
		// the image's config (user, entrypoint, cmd): the image goes, and
		// the kubelet's next pull fetches it again.
		if p, ok := pending[m.Annotation("appc.io/docker/manifesthash")]; ok {
			s.log.Info("removing the image of a pull that was interrupted", "ref", p.Ref, "aci", info.ID)
		} else {
			s.log.Info("removing an image no pull recorded", "aci", info.ID, "name", info.Name)
		}
		if err := s.rkt.ImageRemove(ctx, info.ID); err != nil {
			s.log.Warn("removing an unrecorded image", "aci", info.ID, "error", err)
		}
	}
	for key := range pending {
		if err := s.index.EndPull(key); err != nil {
			return err
		}
	}
	return nil
}
