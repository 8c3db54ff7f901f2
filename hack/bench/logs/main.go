// Command bench-logs measures how container output reaches the kubelet's log
// file through rktlet (app → iottymux → the pod's journald → rktlet's
// follower → CRI file) next to the same output read straight from the pod's
// journal with `journalctl -f -o json --all`, in one run. Not a test: it prints a
// table. Run by hack/bench/logs.sh inside the test bed.
//
// `bench-logs write -n N -rate R` is the container side: N lines, each
// carrying its sequence number and the wall-clock time it was written, one
// write(2) each, R lines per second (0: as fast as it can).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rktlet/rktlet/hack/bench/benchutil"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const image = "registry.k8s.io/e2e-test-images/busybox:1.29-2"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "write" {
		write(os.Args[2:])
		return
	}
	socket := flag.String("socket", "/run/rktlet/rktlet.sock", "rktlet's socket")
	lines := flag.Int("lines", 200000, "lines written as fast as possible (throughput)")
	rate := flag.Int("rate", 2000, "lines per second for the delay measurement")
	seconds := flag.Int("seconds", 5, "duration of the delay measurement")
	flag.Parse()
	if err := run(*socket, *lines, *rate, *seconds); err != nil {
		log.Fatal(err)
	}
}

func write(args []string) {
	fs := flag.NewFlagSet("write", flag.ExitOnError)
	n := fs.Int("n", 1000, "lines")
	rate := fs.Int("rate", 0, "lines per second, 0 for as fast as possible")
	_ = fs.Parse(args)
	pad := strings.Repeat("x", 40)
	start := time.Now()
	buf := make([]byte, 0, 128)
	for i := 1; i <= *n; i++ {
		if *rate > 0 {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(*rate))); d > 0 {
				time.Sleep(d)
			}
		}
		buf = buf[:0]
		buf = append(buf, "bench "...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
		buf = append(buf, ' ')
		buf = append(buf, pad...)
		buf = append(buf, '\n')
		if _, err := os.Stdout.Write(buf); err != nil {
			os.Exit(1)
		}
	}
}

type client struct {
	rt  runtimeapi.RuntimeServiceClient
	img runtimeapi.ImageServiceClient
}

// result is one measurement: when each line arrived and how late.
type result struct {
	lines   int
	elapsed time.Duration // first line written → last line arrived
	delays  []time.Duration
}

func (r result) rate() float64 { return float64(r.lines) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.delays) == 0 {
		return 0
	}
	return r.delays[min(len(r.delays)-1, int(float64(len(r.delays))*p))]
}

// arrivals turns "bench <seq> <unixnano> …" messages into a result.
type arrivals struct {
	want      int
	got       int
	firstSent int64
	lastSeen  time.Time
	delays    []time.Duration
}

func (a *arrivals) add(msg string, at time.Time) {
	f := strings.Fields(msg)
	if len(f) < 3 || f[0] != "bench" {
		return
	}
	sent, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return
	}
	if f[1] == "1" {
		a.firstSent = sent
	}
	a.got++
	a.lastSeen = at
	a.delays = append(a.delays, at.Sub(time.Unix(0, sent)))
}

func (a *arrivals) result() result {
	slices.Sort(a.delays)
	return result{lines: a.got, elapsed: a.lastSeen.Sub(time.Unix(0, a.firstSent)), delays: a.delays}
}

func run(socket string, lines, rate, seconds int) error {
	conn, err := benchutil.Dial(socket)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := client{runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn)}
	ctx := context.Background()
	if _, err := c.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: image}}); err != nil {
		return err
	}
	// The writer is this binary, in a directory mounted into the container
	// (rkt mounts directories, not single files).
	binDir, err := os.MkdirTemp("", "bench-logs-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	if err := copySelf(filepath.Join(binDir, "bench-logs")); err != nil {
		return err
	}
	logDir, err := os.MkdirTemp("", "bench-logs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logDir)
	podCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "bench-logs", Namespace: "bench", Uid: fmt.Sprint("bench-logs-", time.Now().UnixNano())},
		LogDirectory: logDir,
	}
	pod, err := c.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg})
	if err != nil {
		return err
	}
	podID := pod.GetPodSandboxId()
	defer func() {
		_, _ = c.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
		_, _ = c.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
	}()
	st, err := c.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
	if err != nil {
		return err
	}
	var info struct {
		Machine string `json:"machine"`
	}
	_ = json.Unmarshal([]byte(st.GetInfo()["info"]), &info)

	type row struct {
		name string
		r    result
	}
	var rows []row
	n := 0
	measure := func(name string, toFile bool, count, perSecond int) error {
		n++
		// Through the image's shell: rkt checks --exec against the image's
		// own files, and the writer comes from a mount.
		args := []string{"sh", "-c", fmt.Sprintf("exec /bench/bench-logs write -n %d -rate %d", count, perSecond)}
		logPath := ""
		if toFile {
			logPath = fmt.Sprintf("run-%d.log", n)
		}
		cfg := &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: fmt.Sprintf("writer-%d", n)},
			Image:    &runtimeapi.ImageSpec{Image: image},
			Command:  args,
			LogPath:  logPath,
			Mounts:   []*runtimeapi.Mount{{ContainerPath: "/bench", HostPath: binDir, Readonly: true}},
		}
		ctr, err := c.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
		if err != nil {
			return err
		}
		id := ctr.GetContainerId()
		defer c.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id})
		a := &arrivals{want: count}
		followCtx, stopFollowing := context.WithCancel(ctx)
		defer stopFollowing()
		var follow func() error
		if toFile {
			follow = func() error { return tailCRIFile(followCtx, filepath.Join(logDir, logPath), a) }
		} else {
			cmd := exec.CommandContext(followCtx, "journalctl", "-M", info.Machine, "-f", "-n", "all", "--all", "-o", "json", "-t", "ctr-"+id[:20])
			out, err := cmd.StdoutPipe()
			if err != nil {
				return err
			}
			if err := cmd.Start(); err != nil {
				return err
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			follow = func() error { return readJournalJSON(out, a) }
		}
		done := make(chan error, 1)
		go func() { done <- follow() }()
		if _, err := c.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
			return err
		}
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-time.After(time.Minute):
			// Reported in the table: a line that never arrives is lost.
			stopFollowing()
			<-done
			fmt.Fprintf(os.Stderr, "%s: %d of %d lines after a minute\n", name, a.got, count)
		}
		rows = append(rows, row{name, a.result()})
		return nil
	}
	runs := []struct {
		name   string
		toFile bool
		count  int
		rate   int
	}{
		{"reference: journalctl -f -o json --all, as fast as possible", false, lines, 0},
		{"rktlet: CRI log file, as fast as possible", true, lines, 0},
		{fmt.Sprintf("reference: journalctl -f -o json --all, %d lines/s", rate), false, rate * seconds, rate},
		{fmt.Sprintf("rktlet: CRI log file, %d lines/s", rate), true, rate * seconds, rate},
	}
	for _, r := range runs {
		if err := measure(r.name, r.toFile, r.count, r.rate); err != nil {
			return err
		}
	}
	fmt.Printf("| what | lines | lines/s | delay p50 | delay p99 | max | lines/s vs reference |\n|---|---|---|---|---|---|---|\n")
	for i, r := range rows {
		ratio := ""
		if i%2 == 1 {
			ratio = fmt.Sprintf("%.2f×", r.r.rate()/rows[i-1].r.rate())
		}
		fmt.Printf("| %s | %d | %.0f | %v | %v | %v | %s |\n", r.name, r.r.lines, r.r.rate(),
			r.r.pct(0.50).Round(time.Microsecond*100), r.r.pct(0.99).Round(time.Microsecond*100),
			r.r.pct(1).Round(time.Microsecond*100), ratio)
	}
	return nil
}

// tailCRIFile reads the file as it grows until every line is in.
func tailCRIFile(ctx context.Context, path string, a *arrivals) error {
	var f *os.File
	for f == nil && ctx.Err() == nil {
		var err error
		if f, err = os.Open(path); err != nil {
			time.Sleep(time.Millisecond)
		}
	}
	defer f.Close()
	var partial []byte
	buf := make([]byte, 1<<20)
	if f == nil {
		return nil
	}
	for a.got < a.want && ctx.Err() == nil {
		n, err := f.Read(buf)
		if n == 0 || err == io.EOF {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			return err
		}
		now := time.Now()
		data := append(partial, buf[:n]...)
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			// <time> <stream> <tag> <message>
			if f := bytes.SplitN(data[:i], []byte(" "), 4); len(f) == 4 {
				a.add(string(f[3]), now)
			}
			data = data[i+1:]
		}
		partial = append(partial[:0], data...)
	}
	return nil
}

func readJournalJSON(r io.Reader, a *arrivals) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for a.got < a.want && sc.Scan() {
		var e struct {
			Message json.RawMessage `json:"MESSAGE"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		// A string, or an array of bytes when journalctl finds it not
		// printable; an entry may hold several lines.
		var msg string
		if json.Unmarshal(e.Message, &msg) != nil {
			var raw []byte
			var nums []int
			if json.Unmarshal(e.Message, &nums) != nil {
				continue
			}
			for _, n := range nums {
				raw = append(raw, byte(n))
			}
			msg = string(raw)
		}
		now := time.Now()
		for _, line := range strings.Split(msg, "\n") {
			a.add(line, now)
		}
	}
	return nil
}

func copySelf(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}
