// Command bench-exec measures exec round trips of `true` in a running
// container: `rkt enter` run directly (the reference), ExecSync through
// rktlet, and a streamed Exec (the RPC, then the SPDY stream to rktlet's
// streaming server, as the kubelet's client does). Not a test: it prints a
// table. Run by hack/bench/exec.sh inside the test bed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os/exec"
	"time"

	"github.com/rktlet/rktlet/hack/bench/benchutil"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

const image = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

var (
	socket  = flag.String("socket", "/run/rktlet/rktlet.sock", "rktlet's socket")
	rkt     = flag.String("rkt", "", "rkt binary")
	dataDir = flag.String("rkt-data-dir", "", "rktlet's rkt data dir")
	runs    = flag.Int("runs", 30, "execs each way")
)

type stats = benchutil.Durations

// streamExec runs an exec URL with SPDY (v4 protocol): stdout and error
// streams, no stdin, no terminal; it returns when the error stream closes.
func streamExec(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	rt, err := spdy.NewRoundTripper(nil)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Add(httpstream.HeaderProtocolVersion, "v4.channel.k8s.io")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	conn, err := rt.NewConnection(resp)
	if err != nil {
		return err
	}
	defer conn.Close()
	headers := http.Header{}
	headers.Set("streamType", "error")
	errStream, err := conn.CreateStream(headers)
	if err != nil {
		return err
	}
	headers = http.Header{}
	headers.Set("streamType", "stdout")
	outStream, err := conn.CreateStream(headers)
	if err != nil {
		return err
	}
	go io.Copy(io.Discard, outStream)
	status, err := io.ReadAll(errStream)
	if err != nil {
		return err
	}
	var st struct {
		Status string `json:"status"`
	}
	if len(status) > 0 && json.Unmarshal(status, &st) == nil && st.Status != "Success" {
		return fmt.Errorf("exec status %s", status)
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
	img := runtimeapi.NewImageServiceClient(conn)
	ctx := context.Background()
	if _, err := img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: image}}); err != nil {
		log.Fatal(err)
	}
	podCfg := &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "bench-exec", Namespace: "bench", Uid: fmt.Sprint("bench-exec-", time.Now().UnixNano())}}
	pod, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod.GetPodSandboxId()})
		rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod.GetPodSandboxId()})
	}()
	ctr, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod.GetPodSandboxId(), SandboxConfig: podCfg,
		Config: &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "sleeper"}, Image: &runtimeapi.ImageSpec{Image: image}, Command: []string{"sleep", "3600"}}})
	if err != nil {
		log.Fatal(err)
	}
	id := ctr.GetContainerId()
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		log.Fatal(err)
	}
	info, err := benchutil.RktApp(ctx, rt, id)
	if err != nil {
		log.Fatal(err)
	}

	var direct, sync, streamed stats
	for i := 0; i < *runs; i++ {
		cmd := exec.Command(*rkt, "--dir="+*dataDir, "enter", "--app="+info.App, info.RktUUID, "true")
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("rkt enter: %v: %s", err, out)
		}
		direct = append(direct, time.Since(start))

		start = time.Now()
		r, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"true"}, Timeout: 30})
		if err != nil || r.GetExitCode() != 0 {
			log.Fatalf("ExecSync: %v %v", err, r)
		}
		sync = append(sync, time.Since(start))

		start = time.Now()
		e, err := rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Cmd: []string{"true"}, Stdout: true})
		if err != nil {
			log.Fatal(err)
		}
		if err := streamExec(e.GetUrl()); err != nil {
			log.Fatalf("streamed exec: %v", err)
		}
		streamed = append(streamed, time.Since(start))
	}
	fmt.Printf("\n%d execs of `true` each way, in a running busybox container\n\n", *runs)
	fmt.Println("| what | mean | p50 | p99 | vs reference |")
	fmt.Println("|---|---|---|---|---|")
	row := func(what string, s stats, ref bool) {
		ratio := ""
		if !ref {
			ratio = fmt.Sprintf("%.2f×", float64(s.Mean())/float64(direct.Mean()))
		}
		fmt.Printf("| %s | %v | %v | %v | %s |\n", what, s.Mean().Round(100*time.Microsecond), s.Pct(0.5).Round(100*time.Microsecond), s.Pct(0.99).Round(100*time.Microsecond), ratio)
	}
	row("reference: rkt enter run directly", direct, true)
	row("ExecSync through rktlet", sync, false)
	row("Exec RPC + SPDY stream through rktlet", streamed, false)
}
