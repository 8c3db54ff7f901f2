package systemd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// Property is a unit property for a transient unit.
type Property = sddbus.Property

// UnitState is a unit's state as systemd reports it.
type UnitState struct {
	// ActiveState: active, reloading, inactive, failed, activating,
	// deactivating; "" when systemd does not know the unit.
	ActiveState string
	SubState    string
	// Result is the service's result: success, exit-code, signal, timeout,
	// oom-kill, …
	Result string
	// ExecMainStatus is the exit status of the main process.
	ExecMainStatus int32
	// MainPID is the service's main process, 0 when it has none.
	MainPID uint32
	// Environment is the service's Environment= setting.
	Environment []string
	// ControlGroup is the unit's cgroup, relative to the cgroup2 root.
	ControlGroup string
}

// ErrJobFailed is a unit job that did not end in "done".
var ErrJobFailed = errors.New("systemd job failed")

// jobTimeout bounds a start or stop job when the caller set no deadline.
const jobTimeout = 2 * time.Minute

// runJob starts a job with start and waits for its result. The result
// channel is buffered: go-systemd's job listener sends the result once, and
// blocks on an unbuffered channel when nobody reads it any more (a caller
// whose context ended).
func runJob(ctx context.Context, what string, start func(ch chan<- string) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, jobTimeout)
		defer cancel()
	}
	ch := make(chan string, 1)
	if err := start(ch); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	select {
	case result := <-ch:
		if result != "done" {
			return fmt.Errorf("%s: job %s: %w", what, result, ErrJobFailed)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: waiting for the job: %w", what, ctx.Err())
	}
}

// StartTransientUnit starts a transient unit and waits for its start job:
// for a Type=notify service, until the service said it is ready.
func (c *Conn) StartTransientUnit(ctx context.Context, name string, props []Property) error {
	conn, err := c.get(ctx)
	if err != nil {
		return err
	}
	return runJob(ctx, "starting "+name, func(ch chan<- string) error {
		_, err := conn.StartTransientUnitContext(ctx, name, "fail", props, ch)
		return err
	})
}

// StopUnit stops a unit and waits for it; a unit systemd does not know is
// already stopped.
func (c *Conn) StopUnit(ctx context.Context, name string) error {
	conn, err := c.get(ctx)
	if err != nil {
		return err
	}
	err = runJob(ctx, "stopping "+name, func(ch chan<- string) error {
		_, err := conn.StopUnitContext(ctx, name, "replace", ch)
		return err
	})
	if isNoSuchUnit(err) {
		return nil
	}
	return err
}

// ResetFailed forgets a failed unit so its name can be used again; an
// unknown unit is fine.
func (c *Conn) ResetFailed(ctx context.Context, name string) error {
	conn, err := c.get(ctx)
	if err != nil {
		return err
	}
	if err := conn.ResetFailedUnitContext(ctx, name); err != nil && !isNoSuchUnit(err) {
		return fmt.Errorf("resetting %s: %w", name, err)
	}
	return nil
}

// State reads a service's state over D-Bus. A unit systemd does not know
// has an empty ActiveState.
func (c *Conn) State(ctx context.Context, name string) (UnitState, error) {
	conn, err := c.get(ctx)
	if err != nil {
		return UnitState{}, err
	}
	props, err := conn.GetUnitTypePropertiesContext(ctx, name, "Service")
	if err != nil {
		if isNoSuchUnit(err) {
			return UnitState{}, nil
		}
		return UnitState{}, fmt.Errorf("reading %s: %w", name, err)
	}
	unit, err := conn.GetUnitPropertiesContext(ctx, name)
	if err != nil {
		if isNoSuchUnit(err) {
			return UnitState{}, nil
		}
		return UnitState{}, fmt.Errorf("reading %s: %w", name, err)
	}
	st := UnitState{}
	st.ActiveState, _ = unit["ActiveState"].(string)
	st.SubState, _ = unit["SubState"].(string)
	if load, _ := unit["LoadState"].(string); load == "not-found" {
		return UnitState{}, nil
	}
	st.Result, _ = props["Result"].(string)
	st.ExecMainStatus, _ = props["ExecMainStatus"].(int32)
	st.MainPID, _ = props["MainPID"].(uint32)
	st.Environment, _ = props["Environment"].([]string)
	st.ControlGroup, _ = props["ControlGroup"].(string)
	return st, nil
}

// ListUnits returns the names of loaded units matching a glob.
func (c *Conn) ListUnits(ctx context.Context, pattern string) ([]string, error) {
	conn, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	units, err := conn.ListUnitsByPatternsContext(ctx, nil, []string{pattern})
	if err != nil {
		return nil, fmt.Errorf("listing units %s: %w", pattern, err)
	}
	names := make([]string, 0, len(units))
	for _, u := range units {
		names = append(names, u.Name)
	}
	return names, nil
}

func isNoSuchUnit(err error) bool {
	if err == nil {
		return false
	}
	var dbusErr dbus.Error
	if errors.As(err, &dbusErr) {
		return dbusErr.Name == "org.freedesktop.systemd1.NoSuchUnit" || dbusErr.Name == "org.freedesktop.systemd1.LoadFailed"
	}
	return strings.Contains(err.Error(), "not loaded") || strings.Contains(err.Error(), "NoSuchUnit")
}

// PropString makes a string property.
func PropString(name, value string) Property {
	return Property{Name: name, Value: dbus.MakeVariant(value)}
}

// PropBool makes a boolean property.
func PropBool(name string, value bool) Property {
	return Property{Name: name, Value: dbus.MakeVariant(value)}
}

// PropUint64 makes an unsigned property (timeouts in µs, limits).
func PropUint64(name string, value uint64) Property {
	return Property{Name: name, Value: dbus.MakeVariant(value)}
}

// PropStrings makes a string-array property (Environment=).
func PropStrings(name string, values []string) Property {
	return Property{Name: name, Value: dbus.MakeVariant(values)}
}

// PropExecStart is ExecStart= for argv.
func PropExecStart(argv []string) Property { return sddbus.PropExecStart(argv, true) }
