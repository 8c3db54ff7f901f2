// Package benchutil holds what the benchmark programs under hack/bench
// share: duration statistics and the handshake with the script that traces
// rktlet during a measured phase.
package benchutil

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

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
