package logging

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestPriorityPrefixesWhenStderrIsTheJournal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	log := New(f, slog.LevelDebug, "text").With("component", "test")
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Error("failed", "i", i)
			log.Info("fine", "i", i)
		}()
	}
	wg.Wait()
	log.Debug("detail")
	log.Warn("careful")
	b, _ := os.ReadFile(f.Name())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 42 {
		t.Fatalf("%d lines:\n%s", len(lines), b)
	}
	for _, line := range lines {
		want := map[string]string{"failed": "<3>", "fine": "<6>", "detail": "<7>", "careful": "<4>"}
		ok := false
		for msg, prefix := range want {
			if strings.Contains(line, "msg="+msg) {
				ok = strings.HasPrefix(line, prefix+"level=") && strings.Contains(line, "component=test")
			}
		}
		if !ok || strings.Contains(line, "time=") {
			t.Errorf("line %q: want its priority first, no time", line)
		}
	}
}

func TestNoPrefixElsewhere(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Setenv("JOURNAL_STREAM", "1:2") // inherited, but stderr went elsewhere
	New(f, slog.LevelInfo, "json").Error("failed")
	b, _ := os.ReadFile(f.Name())
	if !strings.HasPrefix(string(b), `{"time":`) || !strings.Contains(string(b), `"level":"ERROR"`) {
		t.Errorf("got %q, want a JSON line with its time", b)
	}
}
