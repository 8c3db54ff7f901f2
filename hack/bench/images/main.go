// Command bench-images compares PullImage through rktlet with the same
// `rkt fetch` run directly, then measures ListImages and ImageStatus with 50
// images in the index. Not a test: it prints a table. Run by
// hack/bench/images.sh inside the test bed.
//
// Every pull is of an image pushed just before (random layer, distinct
// content), so neither side finds it in a cache.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"time"

	"github.com/rktlet/rktlet/hack/bench/benchutil"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var (
	socket   = flag.String("socket", "/run/rktlet/rktlet.sock", "rktlet's socket")
	rkt      = flag.String("rkt", "", "rkt binary")
	dataDir  = flag.String("rkt-data-dir", "", "rkt data dir for the direct fetches")
	registry = flag.String("registry", "127.0.0.1:5000", "registry to push to")
	runs     = flag.Int("runs", 10, "pulls each way")
	images   = flag.Int("images", 50, "images in the index while List/Status are measured")
	calls    = flag.Int("calls", 1000, "ListImages and ImageStatus calls measured")
	layerKiB = flag.Int("layer-kib", 512, "size of each image's random layer")
	syncDir  = flag.String("sync-dir", "", "if set: around the List/Status phase, write ready-N there and wait for go-N (so a tracer can attach)")
)

// push stores a fresh image with one random layer as repo:latest and
// returns that reference.
func push(repo string) (string, error) {
	img, err := random.Image(int64(*layerKiB)*1024, 1)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/true"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return "", err
	}
	ref := fmt.Sprintf("%s/%s:latest", *registry, repo)
	tag, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(tag, img); err != nil {
		return "", err
	}
	return ref, nil
}

type stats = benchutil.Durations

func main() {
	flag.Parse()
	if *rkt == "" || *dataDir == "" {
		log.Fatal("--rkt and --rkt-data-dir are required")
	}
	conn, err := benchutil.Dial(*socket)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	img := runtimeapi.NewImageServiceClient(conn)
	ctx := context.Background()
	stamp := time.Now().UnixNano()
	var pulled []string
	defer func() {
		for _, ref := range pulled {
			_, _ = img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		}
		os.RemoveAll(*dataDir)
	}()

	var direct, through stats
	for i := 0; i < *runs; i++ {
		ref, err := push(fmt.Sprintf("bench/direct-%d-%d", stamp, i))
		if err != nil {
			log.Fatal(err)
		}
		// What rktlet runs for a tag its index does not know yet, from a
		// loopback registry (cli.Rkt.Fetch): a fetch by name, started
		// alongside rktlet's own resolve of the tag.
		cmd := exec.Command(*rkt, "--dir="+*dataDir, "--insecure-options=image,http", "fetch", "--full", "--pull-policy=update", "docker://"+ref)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("rkt fetch %s: %v\n%s", ref, err, out)
		}
		direct = append(direct, time.Since(start))

		ref, err = push(fmt.Sprintf("bench/rktlet-%d-%d", stamp, i))
		if err != nil {
			log.Fatal(err)
		}
		start = time.Now()
		if _, err := img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
			log.Fatalf("PullImage %s: %v", ref, err)
		}
		through = append(through, time.Since(start))
		pulled = append(pulled, ref)
	}
	for i := len(pulled); i < *images; i++ {
		ref, err := push(fmt.Sprintf("bench/fill-%d-%d", stamp, i))
		if err != nil {
			log.Fatal(err)
		}
		if _, err := img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}}); err != nil {
			log.Fatalf("PullImage %s: %v", ref, err)
		}
		pulled = append(pulled, ref)
	}
	list, err := img.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		log.Fatal(err)
	}

	lists, statuses, err := benchutil.ListAndStatus(*syncDir, *calls, func(int) error {
		_, err := img.ListImages(ctx, &runtimeapi.ListImagesRequest{})
		return err
	}, func(i int) error {
		ref := pulled[i%len(pulled)]
		st, err := img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
		if err == nil && st.GetImage() == nil {
			err = fmt.Errorf("ImageStatus %s: no image", ref)
		}
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	fmt.Printf("\n%d pulls each way (%d KiB random layer, pushed just before), then %d calls with %d images in the index\n\n",
		*runs, *layerKiB, *calls, len(list.GetImages()))
	fmt.Println("| what | mean | p50 | max / p99 | vs reference |")
	fmt.Println("|---|---|---|---|---|")
	row := func(what string, s stats, ref stats, tail string) {
		ratio := ""
		if ref != nil {
			ratio = fmt.Sprintf("%.2f×", float64(s.Mean())/float64(ref.Mean()))
		}
		last := s.Pct(1)
		if tail == "p99" {
			last = s.Pct(0.99)
		}
		fmt.Printf("| %s | %v | %v | %v (%s) | %s |\n", what, round(s.Mean()), round(s.Pct(0.5)), round(last), tail, ratio)
	}
	row("reference: rkt fetch docker://…:latest run directly", direct, nil, "max")
	row("PullImage through rktlet", through, direct, "max")
	row(fmt.Sprintf("ListImages, %d images", len(list.GetImages())), lists, nil, "p99")
	row("ImageStatus", statuses, nil, "p99")
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}
