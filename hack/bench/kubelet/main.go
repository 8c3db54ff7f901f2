// Command kubelet times a kubelet's static pod, manifest written → container
// Running → pod Ready, against one CRI runtime with the image already
// pulled, and with --report prints the runs of several side by side.
// hack/bench/kubelet.sh runs it against rktlet in the test bed and against a
// containerd of its own on the host.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rktlet/rktlet/test/kubeletnode"
)

type runtime struct {
	name, endpoint, cgroupDriver string
}

type sample struct{ Running, Ready time.Duration }

func main() {
	kubelet := flag.String("kubelet", "", "the kubelet binary")
	crictl := flag.String("crictl", "", "crictl, to pull the image and remove the pods")
	name := flag.String("name", "rktlet", "the runtime's name in the table")
	endpoint := flag.String("endpoint", "unix:///run/rktlet/rktlet.sock", "the runtime's CRI endpoint")
	driver := flag.String("cgroup-driver", "systemd", "the kubelet's cgroup driver for it")
	unit := flag.String("unit", "rktlet-bench-kubelet.service", "the kubelet's systemd unit; \"\": a child process")
	image := flag.String("image", "registry.k8s.io/e2e-test-images/busybox:1.29-2", "the pod's image")
	rounds := flag.Int("rounds", 10, "pods")
	out := flag.String("out", "", "write the samples to this file (JSON)")
	report := flag.Bool("report", false, "print the table of the sample files given as arguments, in order")
	flag.Parse()
	if *report {
		var runtimes []runtime
		results := map[string][]sample{}
		for _, f := range flag.Args() {
			b, err := os.ReadFile(f)
			if err != nil {
				log.Fatal(err)
			}
			var r result
			if err := json.Unmarshal(b, &r); err != nil {
				log.Fatalf("%s: %v", f, err)
			}
			runtimes = append(runtimes, runtime{name: r.Name})
			results[r.Name] = r.Samples
		}
		print(runtimes, results)
		return
	}
	if *kubelet == "" || *crictl == "" || *out == "" {
		log.Fatal("--kubelet, --crictl and --out are needed")
	}
	rt := runtime{*name, *endpoint, *driver}
	samples, err := measure(rt, *kubelet, *unit, *crictl, *image, *rounds)
	if err != nil {
		log.Fatalf("%s: %v", rt.name, err)
	}
	b, _ := json.Marshal(result{Name: rt.name, Samples: samples})
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

// result is one runtime's samples, as --out writes them.
type result struct {
	Name    string
	Samples []sample
}

func measure(rt runtime, kubeletBin, unit, crictl, image string, rounds int) ([]sample, error) {
	cri := func(args ...string) (string, error) {
		return kubeletnode.Run(crictl, append([]string{"--runtime-endpoint", rt.endpoint, "--image-endpoint", rt.endpoint, "--timeout", "120s"}, args...)...)
	}
	if _, err := cri("pull", image); err != nil {
		return nil, err
	}
	host := kubeletnode.SnapshotHost()
	defer func() {
		if err := host.Undo(); err != nil {
			log.Printf("%s: undoing the kubelet's host changes: %v", rt.name, err)
		}
	}()
	k, err := kubeletnode.Start(kubeletnode.Options{
		Binary: kubeletBin, Unit: unit,
		RuntimeEndpoint: rt.endpoint, CgroupDriver: rt.cgroupDriver,
		Port: 10360, ReadOnlyPort: 10365, HealthzPort: 10368, PodCIDR: "10.88.77.0/24",
	})
	defer func() {
		if k == nil {
			return
		}
		if err := k.Stop(); err != nil {
			log.Printf("%s: stopping the kubelet: %v", rt.name, err)
		}
		out, _ := cri("pods", "-q", "--label", "bench.rktlet.io/kubelet=1")
		for _, id := range strings.Fields(out) {
			_, _ = cri("stopp", id)
			_, _ = cri("rmp", "-f", id)
		}
	}()
	if err != nil {
		return nil, err
	}
	var out []sample
	// Round 0 warms the kubelet up (its first pod worker, the image's
	// status); it is not counted.
	for i := 0; i <= rounds; i++ {
		name := fmt.Sprintf("bench-%s-%d", rt.name, i)
		spec := map[string]any{
			"metadata": map[string]any{"name": name, "labels": map[string]any{"bench.rktlet.io/kubelet": "1"}},
			"spec": map[string]any{
				"terminationGracePeriodSeconds": 1,
				"containers": []map[string]any{{
					"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
					"command": []string{"sleep", "3600"},
				}},
			},
		}
		start := time.Now()
		if _, err := k.Apply(spec); err != nil {
			return nil, err
		}
		var s sample
		for s.Ready == 0 {
			if time.Since(start) > 2*time.Minute {
				return nil, fmt.Errorf("pod %s not Ready after 2 min:\n%s", name, k.Log(40))
			}
			time.Sleep(10 * time.Millisecond)
			p, err := k.Pod(name)
			if err != nil || p == nil {
				continue
			}
			if c := p.Container("main"); s.Running == 0 && c != nil && c.State.Running != nil {
				s.Running = time.Since(start)
			}
			if p.Ready() {
				s.Ready = time.Since(start)
			}
		}
		if i > 0 {
			out = append(out, s)
		}
		if err := os.Remove(k.ManifestPath(name)); err != nil {
			return nil, err
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			if p, _ := k.Pod(name); p == nil {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("pod %s still there a minute after its manifest went", name)
			}
		}
	}
	return out, nil
}

func stats(d []time.Duration) (mean, median, min, max time.Duration) {
	sorted := append([]time.Duration(nil), d...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var sum time.Duration
	for _, v := range sorted {
		sum += v
	}
	return sum / time.Duration(len(sorted)), sorted[len(sorted)/2], sorted[0], sorted[len(sorted)-1]
}

func print(runtimes []runtime, results map[string][]sample) {
	fmt.Printf("\nkubelet v1.37 static pod, image cached, %d pods per runtime, one after the other (mean / median, min–max)\n\n", len(results[runtimes[0].name]))
	header := "| step |"
	sep := "|---|"
	for _, rt := range runtimes {
		header += " " + rt.name + " |"
		sep += "---|"
	}
	if len(runtimes) == 2 {
		header += " ratio (means) |"
		sep += "---|"
	}
	fmt.Println(header)
	fmt.Println(sep)
	for _, step := range []struct {
		name string
		of   func(sample) time.Duration
	}{
		{"manifest → container Running", func(s sample) time.Duration { return s.Running }},
		{"manifest → pod Ready", func(s sample) time.Duration { return s.Ready }},
	} {
		row := "| " + step.name + " |"
		var means []time.Duration
		for _, rt := range runtimes {
			var d []time.Duration
			for _, s := range results[rt.name] {
				d = append(d, step.of(s))
			}
			mean, median, lo, hi := stats(d)
			means = append(means, mean)
			row += fmt.Sprintf(" %s / %s (%s–%s) |", ms(mean), ms(median), ms(lo), ms(hi))
		}
		if len(means) == 2 {
			row += fmt.Sprintf(" %.1f× |", float64(means[1])/float64(means[0]))
		}
		fmt.Println(row)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
