package panics

import (
	"os"
	"strings"
	"testing"
)

func TestRecoverReportsAndGoesOn(t *testing.T) {
	errs := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer Recover("test task", func(err error) { errs <- err })
		panic("boom")
	}()
	<-done
	if err := <-errs; err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "test task") {
		t.Fatalf("reported %v", err)
	}
}

func TestExitEndsTheDaemon(t *testing.T) {
	code := make(chan int, 1)
	exit = func(c int) { code <- c }
	defer func() { exit = os.Exit }()
	go func() {
		defer Exit("test task")
		panic("boom")
	}()
	if c := <-code; c != 2 {
		t.Fatalf("exit code %d", c)
	}
}
