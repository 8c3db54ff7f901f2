package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func TestServesRktletsAndTheRuntimesMetrics(t *testing.T) {
	s, err := Listen("127.0.0.1:0", Registry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	// A method and a pod of this run's own: the metrics are process-wide,
	// and go test -count runs this again in the same process.
	method := fmt.Sprintf("/runtime.v1.RuntimeService/Version%d", time.Now().UnixNano())
	pod := fmt.Sprintf("pod-%d", time.Now().UnixNano())
	RPCs.WithLabelValues(method, "OK").Observe(0.002)
	var m dto.Metric
	if err := ImagePullBytes.Write(&m); err != nil {
		t.Fatal(err)
	}
	before := m.GetCounter().GetValue()
	ImagePullBytes.Add(1024)
	LogLag.WithLabelValues(pod).Set(0.5)
	resp, err := http.Get("http://" + s.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`rktlet_rpc_duration_seconds_count{code="OK",method="` + method + `"} 1`,
		fmt.Sprintf("rktlet_image_pull_bytes_total %g", before+1024),
		`rktlet_log_follower_lag_seconds{pod="` + pod + `"} 0.5`,
		`rktlet_recovery_duration_seconds`,
		`rktlet_dbus_connects_total`,
		`go_goroutines`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestListenNamesTheAddressItCannotBind(t *testing.T) {
	s, err := Listen("127.0.0.1:0", Registry(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, err := Listen(s.Addr, Registry(), slog.Default()); err == nil || !strings.Contains(err.Error(), "metrics-address "+s.Addr) {
		t.Fatalf("a taken address: %v", err)
	}
}
