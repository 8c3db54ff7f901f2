// Package panics decides what a panic in one of rktlet's background
// goroutines does. rktlet's interceptor turns an RPC handler's panic into an
// Internal answer (rktlet/instrumented.go); a panic in a goroutine of
// rktlet's own would end the daemon with no word of why.
package panics

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
)

// exit is os.Exit, replaced in tests.
var exit = os.Exit

// Recover, deferred first thing in a goroutine, turns a panic into an error
// handed to report (nil: none), with the panic and its stack logged, and
// lets the daemon go on. For goroutines whose work a caller waits on, or
// that are restarted from a state nothing depends on.
func Recover(what string, report func(error)) {
	v := recover()
	if v == nil {
		return
	}
	slog.Error("recovered from a panic; going on", "in", what, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if report != nil {
		report(fmt.Errorf("internal error in %s: %v", what, v))
	}
}

// Exit, deferred first thing in a goroutine, logs a panic and its stack and
// ends the daemon with status 2, so that systemd restarts it. For goroutines
// that hold state shared with the RPCs (a lock taken, an index half
// updated) which only rktlet's recovery at start rebuilds correctly.
func Exit(what string) {
	v := recover()
	if v == nil {
		return
	}
	slog.Error("panic in a background task; exiting so that rktlet restarts and recovers", "in", what, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	exit(2)
}
