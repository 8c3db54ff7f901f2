// Command vscontainerd times the CRI calls a kubelet makes to start and
// tear down pods, and its List and Status calls with pods and containers
// alive, against one runtime; with --report it prints several runs side by
// side with their ratios to the first. hack/bench/vs-containerd.sh runs it
// against a containerd of its own and against rktlet in the test bed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/rktlet/rktlet/hack/bench/benchutil"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The operations, in the table's order, with the target ratio to
// containerd's mean (issue 18; 0: no target).
var operations = []struct {
	name   string
	target float64
}{
	{"RunPodSandbox", 3}, {"CreateContainer", 3}, {"StartContainer", 0},
	{"pod + container from scratch", 3},
	{"StopContainer", 0}, {"RemoveContainer", 3}, {"StopPodSandbox", 1.5}, {"RemovePodSandbox", 2},
	{"ListPodSandbox", 1.5}, {"ListContainers", 1.5}, {"PodSandboxStatus", 1.5}, {"ContainerStatus", 1.5},
}

type result struct {
	Name string
	// Samples are the durations of each operation.
	Samples map[string]benchutil.Durations
}

func main() {
	name := flag.String("name", "rktlet", "the runtime's name in the table")
	socket := flag.String("socket", "/run/rktlet/rktlet.sock", "the runtime's CRI socket")
	image := flag.String("image", "registry.k8s.io/e2e-test-images/busybox:1.29-2", "the containers' image")
	rounds := flag.Int("rounds", 20, "pods started and removed one after the other")
	alive := flag.Int("alive", 20, "pods, each with a running container, alive while List and Status are timed")
	calls := flag.Int("calls", 200, "calls of each List and Status RPC")
	out := flag.String("out", "", "write the samples to this file (JSON)")
	report := flag.Bool("report", false, "print the table of the sample files given as arguments, the first the reference")
	flag.Parse()
	if *report {
		var results []result
		for _, f := range flag.Args() {
			b, err := os.ReadFile(f)
			if err != nil {
				log.Fatal(err)
			}
			var r result
			if err := json.Unmarshal(b, &r); err != nil {
				log.Fatalf("%s: %v", f, err)
			}
			results = append(results, r)
		}
		printTable(results)
		return
	}
	if *out == "" {
		log.Fatal("--out is needed")
	}
	conn, err := benchutil.Dial(*socket)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	b := &bench{
		rt: runtimeapi.NewRuntimeServiceClient(conn), img: runtimeapi.NewImageServiceClient(conn),
		image: *image, samples: map[string]benchutil.Durations{},
	}
	ctx := context.Background()
	if err := b.run(ctx, *rounds, *alive, *calls); err != nil {
		log.Fatal(err)
	}
	data, err := json.MarshalIndent(result{Name: *name, Samples: b.samples}, "", " ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		log.Fatal(err)
	}
}

type bench struct {
	rt      runtimeapi.RuntimeServiceClient
	img     runtimeapi.ImageServiceClient
	image   string
	samples map[string]benchutil.Durations
	seq     int
}

// timed runs f and records its duration under op.
func (b *bench) timed(op string, f func() error) error {
	start := time.Now()
	err := f()
	b.samples[op] = append(b.samples[op], time.Since(start))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func (b *bench) podConfig() *runtimeapi.PodSandboxConfig {
	b.seq++
	name := fmt.Sprintf("bench-%d-%d", os.Getpid(), b.seq)
	return &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "bench", Uid: name},
		Hostname: name,
		Linux:    &runtimeapi.LinuxPodSandboxConfig{},
	}
}

func (b *bench) containerConfig() *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "main"},
		Image:    &runtimeapi.ImageSpec{Image: b.image},
		Command:  []string{"sleep", "3600"},
		Linux:    &runtimeapi.LinuxContainerConfig{},
	}
}

// start runs a pod with one started container, timing each call when
// record is set.
func (b *bench) start(ctx context.Context, record bool) (pod, ctr string, err error) {
	timed := b.timed
	if !record {
		timed = func(_ string, f func() error) error { return f() }
	}
	cfg := b.podConfig()
	began := time.Now()
	if err := timed("RunPodSandbox", func() error {
		resp, err := b.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		pod = resp.GetPodSandboxId()
		return err
	}); err != nil {
		return "", "", err
	}
	if err := timed("CreateContainer", func() error {
		resp, err := b.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod, Config: b.containerConfig(), SandboxConfig: cfg})
		ctr = resp.GetContainerId()
		return err
	}); err != nil {
		return pod, "", err
	}
	if err := timed("StartContainer", func() error {
		_, err := b.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: ctr})
		return err
	}); err != nil {
		return pod, ctr, err
	}
	if record {
		b.samples["pod + container from scratch"] = append(b.samples["pod + container from scratch"], time.Since(began))
	}
	return pod, ctr, nil
}

func (b *bench) remove(ctx context.Context, pod, ctr string, record bool) error {
	timed := b.timed
	if !record {
		timed = func(_ string, f func() error) error { return f() }
	}
	if ctr != "" {
		if err := timed("StopContainer", func() error {
			_, err := b.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: ctr, Timeout: 0})
			return err
		}); err != nil {
			return err
		}
		if err := timed("RemoveContainer", func() error {
			_, err := b.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: ctr})
			return err
		}); err != nil {
			return err
		}
	}
	if err := timed("StopPodSandbox", func() error {
		_, err := b.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod})
		return err
	}); err != nil {
		return err
	}
	return timed("RemovePodSandbox", func() error {
		_, err := b.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod})
		return err
	})
}

func (b *bench) run(ctx context.Context, rounds, alive, calls int) error {
	if _, err := b.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: b.image}}); err != nil {
		return fmt.Errorf("pulling %s: %w", b.image, err)
	}
	// One unmeasured round: the first pod may set up what later ones reuse.
	pod, ctr, err := b.start(ctx, false)
	if err == nil {
		err = b.remove(ctx, pod, ctr, false)
	}
	if err != nil {
		return err
	}
	for i := 0; i < rounds; i++ {
		pod, ctr, err := b.start(ctx, true)
		if err == nil {
			err = b.remove(ctx, pod, ctr, true)
		}
		if err != nil {
			return err
		}
	}
	type live struct{ pod, ctr string }
	var pods []live
	defer func() {
		for _, p := range pods {
			_ = b.remove(context.WithoutCancel(ctx), p.pod, p.ctr, false)
		}
	}()
	for i := 0; i < alive; i++ {
		pod, ctr, err := b.start(ctx, false)
		pods = append(pods, live{pod, ctr})
		if err != nil {
			return err
		}
	}
	for i := 0; i < calls; i++ {
		p := pods[i%len(pods)]
		for _, call := range []struct {
			op string
			f  func() error
		}{
			{"ListPodSandbox", func() error {
				_, err := b.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
				return err
			}},
			{"ListContainers", func() error {
				_, err := b.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
				return err
			}},
			{"PodSandboxStatus", func() error {
				_, err := b.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.pod})
				return err
			}},
			{"ContainerStatus", func() error {
				_, err := b.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: p.ctr})
				return err
			}},
		} {
			if err := b.timed(call.op, call.f); err != nil {
				return err
			}
		}
	}
	return nil
}

func printTable(results []result) {
	if len(results) == 0 {
		return
	}
	header := []string{"operation"}
	for _, r := range results {
		header = append(header, r.Name+" mean", r.Name+" p90")
	}
	for _, r := range results[1:] {
		header = append(header, r.Name+" / "+results[0].Name)
	}
	header = append(header, "target")
	fmt.Println("| " + strings.Join(header, " | ") + " |")
	fmt.Println("|" + strings.Repeat("---|", len(header)))
	for _, op := range operations {
		row := []string{op.name}
		for _, r := range results {
			s := r.Samples[op.name]
			if len(s) == 0 {
				row = append(row, "-", "-")
				continue
			}
			row = append(row, ms(s.Mean()), ms(s.Pct(0.9)))
		}
		ref := results[0].Samples[op.name].Mean()
		for _, r := range results[1:] {
			ratio := "-"
			if ref > 0 {
				ratio = fmt.Sprintf("%.1f×", float64(r.Samples[op.name].Mean())/float64(ref))
			}
			row = append(row, ratio)
		}
		target := "-"
		if op.target > 0 {
			target = fmt.Sprintf("≤ %g×", op.target)
		}
		row = append(row, target)
		fmt.Println("| " + strings.Join(row, " | ") + " |")
	}
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}
