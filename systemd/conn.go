// Package systemd talks to the host's systemd over D-Bus: transient units,
// unit state and job results.
package systemd

import (
	"context"
	"fmt"
	"github.com/rktlet/rktlet/internal/metrics"
	"github.com/rktlet/rktlet/internal/panics"
	"sync"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
)

// Conn is a lazily opened connection to systemd that reopens itself after
// the bus or systemd went away (as CRI-O's does), so a daemon started before
// dbus, or outliving a dbus restart, recovers on the next call.
type Conn struct {
	mu   sync.Mutex
	conn *sddbus.Conn
	// dial opens a new connection; NewConn's dials the system bus.
	dial func(ctx context.Context) (*sddbus.Conn, error)
}

// NewConn returns a Conn that connects on first use.
func NewConn() *Conn {
	return &Conn{dial: func(ctx context.Context) (*sddbus.Conn, error) {
		// The system bus first (it also answers from inside a container); the
		// private socket needs no dbus daemon when systemd is PID 1 here.
		c, err := sddbus.NewSystemConnectionContext(ctx)
		if err == nil {
			return c, nil
		}
		c, perr := sddbus.NewSystemdConnectionContext(ctx)
		if perr == nil {
			return c, nil
		}
		return nil, fmt.Errorf("system bus: %v; systemd private socket: %v", err, perr)
	}}
}

// get returns the open connection, opening one if there is none or the old
// one is dead.
func (c *Conn) get(ctx context.Context) (*sddbus.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && c.conn.Connected() {
		return c.conn, nil
	}
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	// go-systemd ties the connection's life to the context it was dialed
	// with, so it is dialed on a background context; ctx only bounds how
	// long this caller waits for it.
	type dialed struct {
		conn *sddbus.Conn
		err  error
	}
	ch := make(chan dialed, 1)
	go func() {
		defer panics.Recover("dialing systemd", func(err error) { ch <- dialed{err: err} })
		conn, err := c.dial(context.Background())
		ch <- dialed{conn, err}
	}()
	select {
	case d := <-ch:
		if d.err != nil {
			return nil, fmt.Errorf("connecting to systemd over D-Bus: %w", d.err)
		}
		c.conn = d.conn
		metrics.DBusConnects.Inc()
		return d.conn, nil
	case <-ctx.Done():
		go func() {
			if d := <-ch; d.conn != nil {
				d.conn.Close()
			}
		}()
		return nil, fmt.Errorf("connecting to systemd over D-Bus: %w", ctx.Err())
	}
}

// Version asks systemd for its version: the cheapest call that proves both
// the bus and systemd answer.
func (c *Conn) Version(ctx context.Context) (string, error) {
	conn, err := c.get(ctx)
	if err != nil {
		return "", err
	}
	// GetManagerProperty takes no context; a hung bus must not hang the RPC.
	type answer struct {
		v   string
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		defer panics.Recover("reading systemd's version", func(err error) { ch <- answer{err: err} })
		v, err := conn.GetManagerProperty("Version")
		ch <- answer{v, err}
	}()
	var v string
	select {
	case a := <-ch:
		if a.err != nil {
			return "", fmt.Errorf("asking systemd for its version over D-Bus: %w", a.err)
		}
		v = a.v
	case <-ctx.Done():
		return "", fmt.Errorf("asking systemd for its version over D-Bus: %w", ctx.Err())
	}
	// GetManagerProperty returns the D-Bus variant's text form ("\"252.38\"").
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v, nil
}

// Close closes the connection if one is open.
func (c *Conn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}
