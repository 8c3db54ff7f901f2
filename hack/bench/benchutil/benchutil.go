// Package benchutil holds what the benchmark programs under hack/bench
// share: the connection to rktlet, duration statistics and the handshake
// with the script that traces rktlet during a measured phase.
package benchutil

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Dial is a client connection to the CRI server on a unix socket.
func Dial(socket string) (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// Durations are measured call times.
type Durations []time.Duration

// Mean is their average.
func (s Durations) Mean() time.Duration {
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return sum / time.Duration(max(1, len(s)))
}

// Pct is the p-quantile (0.5 the median, 1 the maximum).
func (s Durations) Pct(p float64) time.Duration {
	c := slices.Clone(s)
	slices.Sort(c)
	return c[min(len(c)-1, int(float64(len(c))*p))]
}

// Handshake writes ready-N into dir and waits for go-N there, so that the
// script around the program can attach a tracer (hack/bench/lib.sh). An
// empty dir means no script is waiting.
func Handshake(dir string, n int) error {
	if dir == "" {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("ready-%d", n)), nil, 0o644); err != nil {
		return err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("go-%d", n))); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ListAndStatus times n rounds of a List call and a Status call (i is the
// round) without a tracer, then makes the same rounds again between
// handshakes 1 and 2, while hack/bench/lib.sh's strace follows rktlet to
// count the processes it starts: ptrace stops rktlet at every system call,
// so times taken under it would be the tracer's. The first error ends it.
func ListAndStatus(syncDir string, n int, list, status func(i int) error) (lists, statuses Durations, err error) {
	rounds := func(record bool) error {
		for i := 0; i < n; i++ {
			start := time.Now()
			if err := list(i); err != nil {
				return err
			}
			if record {
				lists = append(lists, time.Since(start))
			}
			start = time.Now()
			if err := status(i); err != nil {
				return err
			}
			if record {
				statuses = append(statuses, time.Since(start))
			}
		}
		return nil
	}
	if err := rounds(true); err != nil {
		return nil, nil, err
	}
	if err := Handshake(syncDir, 1); err != nil {
		return nil, nil, err
	}
	if err := rounds(false); err != nil {
		return nil, nil, err
	}
	return lists, statuses, Handshake(syncDir, 2)
}

// ContainerInfo is what a container's verbose status tells of its rkt app.
type ContainerInfo struct {
	App     string `json:"app"`
	ACI     string `json:"aci"`
	RktUUID string `json:"rktUUID"`
}

// RktApp reads a container's rkt app, image and pod from its verbose status,
// for the benchmarks' direct rkt commands.
func RktApp(ctx context.Context, rt runtimeapi.RuntimeServiceClient, id string) (ContainerInfo, error) {
	st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		return ContainerInfo{}, err
	}
	var info ContainerInfo
	err = json.Unmarshal([]byte(st.GetInfo()["info"]), &info)
	return info, err
}
