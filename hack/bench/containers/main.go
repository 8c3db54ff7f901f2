// Command bench-containers compares the container lifecycle through rktlet
// (CreateContainer, StartContainer, StopContainer, RemoveContainer) with
// the same rkt app commands run directly on the same pod, then measures
// ListContainers and ContainerStatus with 100 containers in the pod. Not a
// test: it prints a table. Run by hack/bench/containers.sh inside the bed.
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

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const image = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

var (
	socket     = flag.String("socket", "/run/rktlet/rktlet.sock", "rktlet's socket")
	rkt        = flag.String("rkt", "", "rkt binary")
	dataDir    = flag.String("rkt-data-dir", "", "rktlet's rkt data dir")
	runs       = flag.Int("runs", 10, "lifecycles each way")
	containers = flag.Int("containers", 100, "containers in the pod while List/Status are measured")
	calls      = flag.Int("calls", 1000, "ListContainers and ContainerStatus calls measured")
	syncDir    = flag.String("sync-dir", "", "if set: around the List/Status phase, write ready-N there and wait for go-N (so a tracer can attach)")
)

type stats = benchutil.Durations

func timed(s *stats, f func() error) {
	start := time.Now()
	if err := f(); err != nil {
		log.Fatal(err)
	}
	*s = append(*s, time.Since(start))
}

func rktApp(args ...string) error {
	cmd := exec.Command(*rkt, append([]string{"--dir=" + *dataDir, "--insecure-options=image"}, args...)...)
	cmd.Env = append(os.Environ(), "RKT_EXPERIMENT_APP=true", "RKT_EXPERIMENT_ATTACH=true")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rkt %v: %v: %s", args, err, out)
	}
	return nil
}

func main() {
	flag.Parse()
	conn, err := benchutil.Dial(*socket)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx := context.Background()
	if _, err := runtimeapi.NewImageServiceClient(conn).PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: image}}); err != nil {
		log.Fatal(err)
	}
	podCfg := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "bench-containers", Namespace: "bench", Uid: fmt.Sprint("bench-containers-", time.Now().UnixNano())}}
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		log.Fatal(err)
	}
	podID := pod.GetPodSandboxId()
	defer func() {
		rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
		rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
	}()
	n := 0
	create := func() (string, error) {
		n++
		cfg := &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: fmt.Sprintf("c%d", n)}, Image: &runtimeapi.ImageSpec{Image: image}, Command: []string{"sleep", "3600"}}
		r, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
		return r.GetContainerId(), err
	}
	// The pod's rkt UUID and the image's ACI, for the direct commands.
	probe, err := create()
	if err != nil {
		log.Fatal(err)
	}
	info, err := benchutil.RktApp(ctx, rt, probe)
	if err != nil {
		log.Fatal(err)
	}
	rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: probe})

	var dAdd, dStart, dStop, dRm, cCreate, cStart, cStop, cRemove stats
	for i := 0; i < *runs; i++ {
		app := fmt.Sprintf("direct-%d", i)
		timed(&dAdd, func() error {
			return rktApp("app", "add", info.RktUUID, info.ACI, "--name="+app, "--stdout=stream", "--stderr=stream", "--exec=sleep", "--", "3600")
		})
		timed(&dStart, func() error { return rktApp("app", "start", info.RktUUID, "--app="+app) })
		timed(&dStop, func() error { return rktApp("app", "stop", info.RktUUID, "--app="+app) })
		timed(&dRm, func() error { return rktApp("app", "rm", info.RktUUID, "--app="+app) })

		var id string
		timed(&cCreate, func() (err error) { id, err = create(); return err })
		timed(&cStart, func() error {
			_, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id})
			return err
		})
		timed(&cStop, func() error {
			_, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 10})
			return err
		})
		timed(&cRemove, func() error {
			_, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
			return err
		})
	}

	var ids []string
	for len(ids) < *containers {
		id, err := create()
		if err != nil {
			log.Fatal(err)
		}
		ids = append(ids, id)
	}
	lists, statuses, err := benchutil.ListAndStatus(*syncDir, *calls, func(int) error {
		_, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		return err
	}, func(i int) error {
		_, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: ids[i%len(ids)]})
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	fmt.Printf("\n%d lifecycles each way in one pod, then %d calls with %d containers\n\n", *runs, *calls, len(ids))
	fmt.Println("| what | mean | p50 | max / p99 | vs reference |")
	fmt.Println("|---|---|---|---|---|")
	row := func(what string, s, ref stats, p float64) {
		ratio := ""
		if ref != nil {
			ratio = fmt.Sprintf("%.2f×", float64(s.Mean())/float64(ref.Mean()))
		}
		fmt.Printf("| %s | %v | %v | %v | %s |\n", what, s.Mean().Round(10*time.Microsecond), s.Pct(0.5).Round(10*time.Microsecond), s.Pct(p).Round(10*time.Microsecond), ratio)
	}
	row("reference: rkt app add", dAdd, nil, 1)
	row("CreateContainer", cCreate, dAdd, 1)
	row("reference: rkt app start", dStart, nil, 1)
	row("StartContainer", cStart, dStart, 1)
	row("reference: rkt app stop", dStop, nil, 1)
	row("StopContainer", cStop, dStop, 1)
	row("reference: rkt app rm", dRm, nil, 1)
	row("RemoveContainer", cRemove, dRm, 1)
	row(fmt.Sprintf("ListContainers, %d containers (p99)", len(ids)), lists, nil, 0.99)
	row("ContainerStatus (p99)", statuses, nil, 0.99)
}
