// Package metrics holds rktlet's Prometheus metrics and serves them over
// HTTP for a scraper.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Buckets for calls that take milliseconds (List, Status) to minutes (a
// pull, a pod start under load).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

var (
	// RPCs counts and times every CRI call, by method and gRPC code.
	RPCs = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "rktlet", Name: "rpc_duration_seconds",
		Help:    "CRI calls by method (e.g. /runtime.v1.RuntimeService/RunPodSandbox) and gRPC code, and how long they took.",
		Buckets: latencyBuckets,
	}, []string{"method", "code"})
	// PodStarts times the pod starts that succeeded (RunPodSandbox).
	PodStarts = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "rktlet", Name: "pod_start_duration_seconds",
		Help:    "Time from RunPodSandbox's arrival to its pod's unit running, for the pods that started.",
		Buckets: latencyBuckets,
	})
	// ImagePulls times the pulls that fetched an image.
	ImagePulls = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "rktlet", Name: "image_pull_duration_seconds",
		Help:    "Time an image pull that fetched the image took (resolve, fetch, record).",
		Buckets: latencyBuckets,
	})
	// ImagePullBytes adds up the sizes of the images pulled.
	ImagePullBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "rktlet", Name: "image_pull_bytes_total",
		Help: "Bytes of the images pulled (their size in rkt's store).",
	})
	// LogLinesDropped counts container log lines that could not be
	// written into their CRI log file.
	LogLinesDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "rktlet", Name: "log_lines_dropped_total",
		Help: "Container output lines that could not be written into their CRI log file.",
	})
	// LogLag is, per pod, how far behind the pod's journal its log
	// follower was when it last wrote.
	LogLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "rktlet", Name: "log_follower_lag_seconds",
		Help: "Per pod: the age of the newest journal entry its log follower had written, when it wrote it.",
	}, []string{"pod"})
	// Recovery is how long the last recovery of pods and containers took.
	Recovery = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "rktlet", Name: "recovery_duration_seconds",
		Help: "How long rktlet took at its start to find its pods and containers again.",
	})
	// DBusConnects counts connections made to systemd's D-Bus, the first one included.
	DBusConnects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "rktlet", Name: "dbus_connects_total",
		Help: "Connections made to systemd over D-Bus; more than one means rktlet reconnected.",
	})
)

// Registry has rktlet's metrics and the Go runtime's and the process's.
func Registry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(RPCs, PodStarts, ImagePulls, ImagePullBytes, LogLinesDropped, LogLag, Recovery, DBusConnects,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Server serves /metrics.
type Server struct {
	srv *http.Server
	// Addr is the address bound, with the port chosen for port 0.
	Addr string
}

// Listen binds addr (host:port) and serves the registry's metrics there
// until Close.
func Listen(addr string, r *prometheus.Registry, log *slog.Logger) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics-address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(r, promhttp.HandlerOpts{}))
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, Addr: l.Addr().String()}
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			// The CRI goes on without metrics.
			log.Error("the metrics server stopped", "address", s.Addr, "error", err)
		}
	}()
	return s, nil
}

// Close stops serving.
func (s *Server) Close(ctx context.Context) error { return s.srv.Shutdown(ctx) }
