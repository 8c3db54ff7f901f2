package systemd

import (
	"context"
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
// on its own connection and reconnects when the bus goes away; after each
// (re)connection it calls resync, since signals sent meanwhile were lost.
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
		watchOn(ctx, conn, prefix, events, resync)
		conn.Close()
		sleep(ctx, time.Second)
	}
}

func watchOn(ctx context.Context, conn *sddbus.Conn, prefix string, events chan<- UnitEvent, resync func()) {
	// Buffered and drained at once: go-systemd's dispatcher blocks on a
	// full channel, and with it every job result on this connection.
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
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-updates:
			if !strings.HasPrefix(u.UnitName, prefix) {
				continue
			}
			v, ok := u.Changed["ActiveState"]
			if !ok {
				continue
			}
			state, _ := v.Value().(string)
			select {
			case events <- UnitEvent{Unit: u.UnitName, ActiveState: state}:
			case <-ctx.Done():
				return
			}
		case <-errs:
		case <-tick.C:
			if !conn.Connected() {
				return
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
