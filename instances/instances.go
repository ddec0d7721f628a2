package instances

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// Interval is how often a live instance raises its last_seen_at.
const Interval = 10 * time.Second

// DefaultDeadAfter is how long without a heartbeat makes an instance dead: six
// intervals, so that a database slow for a while or a busy host does not make a live
// instance look dead.
const DefaultDeadAfter = time.Minute

// The kinds of instance.
const (
	Scheduler = "scheduler"
	Run       = "run"
	Process   = "process"
)

// Options describe the instance a heartbeat is for.
type Options struct {
	Kind    string // Scheduler, Run or Process
	Name    string // as the run ledger names it; "" is host:pid
	Version string
	// Doing says what the instance is doing, at each beat; nil: "".
	Doing func() string
	Log   logrus.FieldLogger
	// Interval between beats; 0: Interval.
	Interval time.Duration
}

// beatTimeout is the least time one beat is given.
const beatTimeout = 5 * time.Second

// Heartbeat is a live instance's row, kept up to date until Stop.
type Heartbeat struct {
	db   *store.DB
	opts Options
	id   int64
	host string
	stop chan struct{}
	done sync.WaitGroup
}

// Start records the instance and beats until Stop. A failure to record it is
// returned: the caller decides whether to go on without (the commands do, with a
// warning: a heartbeat is for the operator's view, not for the work).
func Start(ctx context.Context, db *store.DB, opts Options) (*Heartbeat, error) {
	host, _ := os.Hostname()
	if opts.Name == "" {
		opts.Name = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if opts.Interval <= 0 {
		opts.Interval = Interval
	}
	if opts.Doing == nil {
		opts.Doing = func() string { return "" }
	}
	h := &Heartbeat{db: db, opts: opts, host: host, stop: make(chan struct{})}
	if err := h.insert(ctx); err != nil {
		return nil, err
	}
	h.done.Go(h.beat)
	return h, nil
}

func (h *Heartbeat) insert(ctx context.Context) error {
	if err := h.db.GetContext(ctx, &h.id, provsql.InstanceStart, h.opts.Kind, h.opts.Name, h.host, os.Getpid(), h.opts.Version, h.opts.Doing()); err != nil {
		return fmt.Errorf("record instance: %w", err)
	}
	return nil
}

func (h *Heartbeat) beat() {
	t := time.NewTicker(h.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		// A beat may take longer than the interval (a loaded server, or the update
		// and the insert one after the other): bounded by beatTimeout, not by the
		// interval, or a short interval would cut every beat short and the row
		// deleted by housekeeping would never come back. A late beat only delays
		// the next one (the ticker drops the ticks missed meanwhile).
		ctx, cancel := context.WithTimeout(context.Background(), max(h.opts.Interval, beatTimeout))
		res, err := h.db.ExecContext(ctx, provsql.InstanceBeat, h.id, h.opts.Doing())
		if err == nil {
			if n, _ := res.RowsAffected(); n == 0 {
				// Housekeeping took it for dead (the database was out of reach for
				// long): live again.
				err = h.insert(ctx)
			}
		}
		cancel()
		if err != nil && h.opts.Log != nil {
			h.opts.Log.WithError(err).Warn("instance heartbeat: status may show this instance dead until the next one")
		}
	}
}

// Stop ends the beats and deletes the row: an instance that ends cleanly is neither
// live nor dead.
func (h *Heartbeat) Stop() {
	close(h.stop)
	h.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.db.ExecContext(ctx, provsql.InstanceStop, h.id); err != nil && h.opts.Log != nil {
		h.opts.Log.WithError(err).Warn("instance heartbeat: could not delete its row; housekeeping will")
	}
}

// ID is the instance's row.
func (h *Heartbeat) ID() int64 { return h.id }

// Instance is an instance's row, live or dead, as `provisioner status` shows it.
// Its JSON names are part of `status --json`.
type Instance struct {
	ID         int64     `db:"id" json:"id"`
	Kind       string    `db:"kind" json:"kind"`
	Name       string    `db:"name" json:"name"`
	Host       string    `db:"host" json:"host"`
	PID        int       `db:"pid" json:"pid"`
	Version    string    `db:"version" json:"version"`
	StartedAt  time.Time `db:"started_at" json:"started_at"`
	LastSeenAt time.Time `db:"last_seen_at" json:"last_seen_at"`
	Doing      string    `db:"doing" json:"doing"`
	// Dead: no heartbeat within the dead-after time before the status's time.
	Dead bool `db:"-" json:"dead"`
}

// List returns every instance's row, each marked dead when it was not seen within
// deadAfter before now.
func List(ctx context.Context, db *store.DB, now time.Time, deadAfter time.Duration) ([]Instance, error) {
	out := []Instance{}
	if err := db.SelectContext(ctx, &out, provsql.ListInstances); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	for i := range out {
		in := &out[i]
		in.StartedAt, in.LastSeenAt = in.StartedAt.UTC(), in.LastSeenAt.UTC()
		in.Dead = now.Sub(in.LastSeenAt) > deadAfter
	}
	return out, nil
}

// DeleteDead deletes the rows of instances not seen for longer than after
// (housekeeping), and says how many.
func DeleteDead(ctx context.Context, db *store.DB, after time.Duration) (int, error) {
	res, err := db.ExecContext(ctx, provsql.HousekeepingDeleteInstances, after.Seconds())
	if err != nil {
		return 0, fmt.Errorf("delete dead instances: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
