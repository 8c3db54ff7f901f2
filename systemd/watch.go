package systemd

import (
	"context"
	"github.com/rktlet/rktlet/internal/panics"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
)

// UnitEvent says a watched unit's ActiveState changed.
type UnitEvent struct {
	Unit        string
	ActiveState string
}

// Watch delivers the ActiveState changes of units whose names start with
// prefix, from systemd's PropertiesChanged signals, until ctx ends. It runs
// on its own connection and reconnects when the bus goes away. It calls
// resync, which must read every unit again, after each (re)connection,
// after an update was dropped or the subscription failed, and every 30 s,
// since updates lost then would leave a stale state for good.
func Watch(ctx context.Context, prefix string, events chan<- UnitEvent, resync func()) {
	for ctx.Err() == nil {
		conn, err := sddbus.NewSystemConnectionContext(ctx)
		if err != nil {
			conn, err = sddbus.NewSystemdConnectionContext(ctx)
		}
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		// A panic ends this connection's watch only: the next one
		// resyncs every unit, so nothing it missed stays stale.
		func() {
			defer panics.Recover("the D-Bus unit watcher", nil)
			watchOn(ctx, conn, prefix, events, resync)
		}()
		conn.Close()
		sleep(ctx, time.Second)
	}
}

func watchOn(ctx context.Context, conn *sddbus.Conn, prefix string, events chan<- UnitEvent, resync func()) {
	// Buffered and drained at once: on a full channel go-systemd's
	// dispatcher drops the update and says so on errs (or, errs full too,
	// only in its own log). Either way an update was lost.
	updates := make(chan *sddbus.PropertiesUpdate, 256)
	errs := make(chan error, 16)
	conn.SetPropertiesSubscriber(updates, errs)
	if err := conn.Subscribe(); err != nil {
		return
	}
	if resync != nil {
		resync()
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	needResync, ticks := false, 0
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-updates:
			if v, ok := u.Changed["ActiveState"]; ok && strings.HasPrefix(u.UnitName, prefix) {
				state, _ := v.Value().(string)
				select {
				case events <- UnitEvent{Unit: u.UnitName, ActiveState: state}:
				case <-ctx.Done():
					return
				}
			}
		case <-errs:
			// A dropped update or a subscription error: every unit's state
			// is read again, rather than trusting what was seen so far.
			needResync = true
		case <-tick.C:
			if !conn.Connected() {
				return
			}
			// A drop reported only in go-systemd's log (errs was full too)
			// is caught by this periodic resync at the latest.
			if ticks++; ticks%resyncEveryTicks == 0 {
				needResync = true
			}
		}
		if needResync && resync != nil && len(updates) == 0 {
			resync()
			needResync = false
		}
	}
}

// resyncEveryTicks is how many 5 s ticks pass between two reads of every
// unit with no lost update reported: the backstop for drops go-systemd
// only logs.
const resyncEveryTicks = 6

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
