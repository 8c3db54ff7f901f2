//go:build cgroup2

package cgroup2

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/rktlet/rktlet/test/kubeletnode"
)

type m = map[string]any

// TestKubelet: the kubelet the kubelet suite builds runs a static pod with
// limits on the v2 host, with its QoS and pod cgroups of its own; the limits
// are in the container's cgroup and /stats/summary shows the pod.
//
// The pod's systemd and journald boot inside the pod's CPU limit, which
// the kubelet puts on the pod's slice: the pod gets a whole CPU, so that
// it starts within rktlet's 2 minutes in the emulated guest.
func TestKubelet(t *testing.T) {
	if os.Getenv("KUBELET") == "" {
		t.Skip("KUBELET is not set: make test-cgroup2 sets it, unless CGROUP2_KUBELET=0")
	}
	rt, _ := connect(t)
	k, err := kubeletnode.Start(kubeletnode.Options{
		Binary: env(t, "KUBELET"), Unit: "test-kubelet", RuntimeEndpoint: "unix://" + env(t, "RKTLET_SOCKET"),
		CgroupDriver: "systemd", CgroupsPerQOS: true, Port: 10350, ReadOnlyPort: 10355, HealthzPort: 10358,
		PodCIDR: "10.88.0.0/16", RuntimeRequestTimeout: "10m",
	})
	if k != nil {
		t.Cleanup(func() { _ = k.Stop() })
	}
	if err != nil {
		t.Fatal(err)
	}
	name, err := k.Apply(m{
		"metadata": m{"name": "limits"},
		"spec": m{"containers": []m{{
			"name": "main", "image": busybox,
			"command":   []string{"sh", "-c", "i=0; while true; do echo line-$i; i=$((i+1)); sleep 1; done"},
			"resources": m{"requests": m{"cpu": "100m", "memory": "32Mi"}, "limits": m{"cpu": "1", "memory": "64Mi"}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var p *kubeletnode.Pod
	deadline := time.Now().Add(10 * time.Minute)
	for {
		p, err = k.Pod(name)
		if err == nil && p != nil && p.Ready() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("static pod %s not Ready within 10 min: %v %v\n%s", name, p, err, k.Log(60))
		}
		time.Sleep(2 * time.Second)
	}
	id := strings.TrimPrefix(p.Container("main").ContainerID, "rktlet://")
	s := &suite{t: t, rt: rt}
	dir := s.cgroupOf(t, id)
	t.Logf("the kubelet's container %s: cgroup %s", id, dir)
	if !strings.Contains(dir, "kubepods-burstable-pod") {
		t.Errorf("the container's cgroup %s is not below the kubelet's burstable pod slice", dir)
	}
	expectFiles(t, dir, map[string]string{"memory.max": "67108864", "cpu.max": "100000 100000"})
	expectFiles(t, appDir(dir), map[string]string{"memory.oom.group": "1"})

	var last string
	deadline = time.Now().Add(3 * time.Minute)
	for {
		pods, err := k.Summary()
		if err != nil {
			last = err.Error()
		}
		found := false
		for _, sp := range pods {
			if sp.PodRef.Name != k.FullName(name) {
				continue
			}
			last = fmt.Sprintf("%+v", sp)
			for _, c := range sp.Containers {
				if c.Name == "main" && c.Measured() && sp.Memory != nil && sp.Memory.WorkingSetBytes > 0 {
					found = true
					t.Logf("/stats/summary: container working set %d usage %d cpu %d ns; pod working set %d; the slice's memory.current %s",
						c.Memory.WorkingSetBytes, c.Memory.UsageBytes, c.CPU.UsageCoreNanoSeconds, sp.Memory.WorkingSetBytes, read(t, dir, "memory.current"))
				}
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CPU and memory of the pod in /stats/summary within 3 min; last: %s", last)
		}
		time.Sleep(5 * time.Second)
	}

	// Deleting the manifest takes the pod down, its slice with it. The
	// sandbox is NOTREADY as soon as its unit starts deactivating; the
	// slice goes when the unit is inactive, which in the emulated guest can
	// be seconds later, so that is what is waited for.
	if err := os.Remove(k.ManifestPath(name)); err != nil {
		t.Fatal(err)
	}
	var podID string
	deadline = time.Now().Add(4 * time.Minute)
	for {
		resp, err := rt.ListPodSandbox(ctx(t, time.Minute), &runtimeapi.ListPodSandboxRequest{})
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for _, sb := range resp.GetItems() {
			if sb.GetMetadata().GetName() != k.FullName(name) {
				continue
			}
			podID = sb.GetId()
			if sb.GetState() == runtimeapi.PodSandboxState_SANDBOX_READY {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kubelet's pod is still ready 4 min after its manifest went")
		}
		time.Sleep(2 * time.Second)
	}
	unit := "rktlet-pod-" + podID + ".service"
	for {
		out, _ := exec.Command("systemctl", "show", "-p", "ActiveState", "--value", unit).Output()
		if state := strings.TrimSpace(string(out)); state == "inactive" || state == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kubelet's pod unit %s is not inactive 4 min after its manifest went", unit)
		}
		time.Sleep(time.Second)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the container's slice %s is still there after its pod's unit stopped (%v)", dir, err)
	}
}
