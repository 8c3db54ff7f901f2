// Command sandbox measures pod sandbox latencies through rktlet against the
// same `rkt app sandbox` started directly with systemd-run, in one run, and
// ListPodSandbox with many pods while counting the processes rktlet spawns.
// hack/bench/sandbox.sh runs it inside the test bed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rktlet/rktlet/cli"
	"github.com/rktlet/rktlet/hack/bench/benchutil"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var (
	socket  = flag.String("socket", "/run/rktlet/rktlet.sock", "rktlet's socket")
	rkt     = flag.String("rkt", "", "rkt binary")
	stage1  = flag.String("stage1", "", "stage1-host image")
	dataDir = flag.String("rkt-data-dir", "", "rkt data dir for the direct runs")
	runs    = flag.Int("runs", 5, "pods started each way")
	pods    = flag.Int("list-pods", 50, "pods alive while ListPodSandbox is measured")
	lists   = flag.Int("lists", 1000, "ListPodSandbox calls measured")
	syncDir = flag.String("sync-dir", "", "if set: before and after the List/Status phase, write ready-N there and wait for go-N (so a tracer can attach)")
)

// stage1ID is the stage1 image's ID in the direct runs' rkt store.
var stage1ID string

func main() {
	flag.Parse()
	conn, err := benchutil.Dial(*socket)
	if err != nil {
		fail(err)
	}
	client := runtimeapi.NewRuntimeServiceClient(conn)
	cleanup = client
	ctx := context.Background()

	// The direct runs, as rktlet, give rkt the stage1 image already in its
	// store (--stage1-hash): with --stage1-path rkt imports it again for
	// every pod, a second of work that rktlet does not do.
	stage1ID, err = (&cli.Rkt{Path: *rkt, DataDir: *dataDir}).ImportACI(ctx, *stage1)
	if err != nil {
		fail(err)
	}

	// Warm up both paths (page cache, stage1's list of host files).
	id := runPod(ctx, client, "warmup", true)
	removePod(ctx, client, id)
	direct(0)

	var viaHost, viaCNI, viaDirect []time.Duration
	for i := 0; i < *runs; i++ {
		start := time.Now()
		id := runPod(ctx, client, fmt.Sprintf("bench-host-%d", i), true)
		viaHost = append(viaHost, time.Since(start))
		removePod(ctx, client, id)

		start = time.Now()
		id = runPod(ctx, client, fmt.Sprintf("bench-cni-%d", i), false)
		viaCNI = append(viaCNI, time.Since(start))
		removePod(ctx, client, id)

		viaDirect = append(viaDirect, direct(i+1))
	}

	var ids []string
	for i := 0; i < *pods; i++ {
		ids = append(ids, runPod(ctx, client, fmt.Sprintf("bench-list-%d", i), i%2 == 0))
	}
	listTimes, statusTimes, err := benchutil.ListAndStatus(*syncDir, *lists, func(int) error {
		resp, err := client.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		if err == nil && len(resp.Items) < *pods {
			err = fmt.Errorf("listed %d pods, want at least %d", len(resp.Items), *pods)
		}
		return err
	}, func(i int) error {
		_, err := client.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: ids[i%len(ids)]})
		return err
	})
	if err != nil {
		fail(err)
	}
	for _, id := range ids {
		removePod(ctx, client, id)
	}

	ref := mean(viaDirect)
	fmt.Println()
	fmt.Printf("%-52s %10s %10s %10s %8s\n", "what", "mean", "p50", "max", "vs ref")
	row := func(name string, d []time.Duration, ref time.Duration) {
		ratio := "-"
		if ref > 0 {
			ratio = fmt.Sprintf("%.2fx", float64(mean(d))/float64(ref))
		}
		fmt.Printf("%-52s %10s %10s %10s %8s\n", name, round(mean(d)), round(pct(d, 50)), round(pct(d, 100)), ratio)
	}
	row("reference: systemd-run ... rkt app sandbox (n="+fmt.Sprint(*runs)+")", viaDirect, 0)
	row("RunPodSandbox, host network (same pod as reference)", viaHost, ref)
	row("RunPodSandbox, CNI network (netns + bridge + portmap)", viaCNI, ref)
	fmt.Printf("%-52s %10s %10s %10s %8s\n", fmt.Sprintf("ListPodSandbox with %d pods (n=%d)", *pods, *lists),
		round(mean(listTimes)), round(pct(listTimes, 50)), round(pct(listTimes, 99))+"(p99)", "")
	fmt.Printf("%-52s %10s %10s %10s %8s\n", fmt.Sprintf("PodSandboxStatus with %d pods (n=%d)", *pods, *lists),
		round(mean(statusTimes)), round(pct(statusTimes, 50)), round(pct(statusTimes, 99))+"(p99)", "")
}

func runPod(ctx context.Context, c runtimeapi.RuntimeServiceClient, name string, hostNetwork bool) string {
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "bench", Uid: name + "-uid"},
		Hostname: name,
	}
	if hostNetwork {
		cfg.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
		}}
	}
	resp, err := c.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		fail(err)
	}
	created = append(created, resp.PodSandboxId)
	return resp.PodSandboxId
}

func removePod(ctx context.Context, c runtimeapi.RuntimeServiceClient, id string) {
	if _, err := c.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		fail(err)
	}
	if _, err := c.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		fail(err)
	}
}

// direct starts the same pod with systemd-run, as an operator would, and
// returns how long systemd-run took to return (the pod is ready then).
func direct(i int) time.Duration {
	unit := fmt.Sprintf("bench-direct-%d-%d", os.Getpid(), i)
	uuidFile := filepath.Join(os.TempDir(), unit+".uuid")
	start := time.Now()
	out, err := exec.Command("systemd-run", "--quiet", "--unit="+unit, "--service-type=notify",
		"--property=KillMode=mixed", "--property=Delegate=yes",
		"--setenv=RKT_EXPERIMENT_APP=true",
		*rkt, "--dir="+*dataDir, "--insecure-options=image", "app", "sandbox",
		"--stage1-hash="+stage1ID, "--uuid-file-save="+uuidFile, "--net=host", "--dns=host", "--hostname=bench").CombinedOutput()
	d := time.Since(start)
	if err != nil {
		fail(fmt.Errorf("systemd-run: %v: %s", err, out))
	}
	_ = exec.Command("systemctl", "stop", unit).Run()
	if uuid, err := os.ReadFile(uuidFile); err == nil {
		_ = exec.Command(*rkt, "--dir="+*dataDir, "rm", strings.TrimSpace(string(uuid))).Run()
	}
	os.Remove(uuidFile)
	return d
}

func mean(d []time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s) - 1) * p / 100
	return s[i]
}

func round(d time.Duration) string {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond).String()
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// created holds the pods this run made, removed on failure too.
var (
	created []string
	cleanup runtimeapi.RuntimeServiceClient
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	if cleanup != nil {
		ctx := context.Background()
		for _, id := range created {
			_, _ = cleanup.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
			_, _ = cleanup.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
		}
	}
	os.Exit(1)
}
