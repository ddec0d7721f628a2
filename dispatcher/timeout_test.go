package dispatcher_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

// blockClaims takes a lock on provisioning_requests that the claim's UPDATE waits
// for (SHARE conflicts with ROW EXCLUSIVE) and returns once it is held; release
// lets go.
func blockClaims(t *testing.T, db *store.DB) (release func()) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("LOCK TABLE provisioning_requests IN SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			tx.Rollback()
		}
	}
	t.Cleanup(release)
	return release
}

// waitForClaimBlocked returns once a claim waits on a lock in the database.
func waitForClaimBlocked(t *testing.T, db *store.DB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM pg_stat_activity
		        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '-- Claims up to %'`); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			var act []string
			db.Select(&act, "SELECT coalesce(wait_event_type, '') || ' ' || state || ' ' || left(query, 60) FROM pg_stat_activity WHERE datname = current_database()")
			t.Fatalf("no claim waits on the lock after %v: %q", within, act)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition
	}
}

// TestSlowClaimEnds: a run whose claim is stuck in the database (here waiting on a
// lock; on stale statistics it was a plan that took minutes) ends at --max-duration,
// or at SIGTERM, without waiting for the statement: the claim is cancelled, takes
// nothing, and nothing is sent.
func TestSlowClaimEnds(t *testing.T) {
	cases := []struct {
		name      string
		maxDur    time.Duration
		interrupt bool // cancel the run's context (SIGTERM) once the claim waits
		state     string
	}{
		{"max duration", time.Second, false, "SUCCEEDED"},
		{"shutdown", 0, true, "INTERRUPTED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			insert(t, db, req{typ: "RESET_PIN", card: known.Smartcards[0]}, req{typ: "RESET_PIN", card: known.Smartcards[1]})
			sim, srv := newSim(t, simulator.Faults{})
			d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{MaxDuration: c.maxDur})
			release := blockClaims(t, db)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The bound: MaxDuration plus the time to give up a statement, far below
			// the statement timeout (30s) that would end it otherwise.
			bound := c.maxDur + 10*time.Second
			guard := time.AfterFunc(bound+20*time.Second, release) // a failing run must not hang the suite
			defer guard.Stop()
			type result struct {
				sum dispatcher.Summary
				err error
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				sum, err := d.Run(ctx)
				done <- result{sum, err}
			}()
			waitForClaimBlocked(t, db, bound)
			if c.interrupt {
				cancel()
			}
			res := <-done
			took := time.Since(start)
			release()
			if res.err != nil {
				t.Fatalf("run: %v", res.err)
			}
			if took > bound {
				t.Errorf("the run took %v with its claim stuck; want at most %v", took.Round(time.Millisecond), bound)
			}
			if res.sum.Claimed != 0 || sim.Stats().Batches != 0 {
				t.Errorf("claimed %d, sent %d batches; want nothing", res.sum.Claimed, sim.Stats().Batches)
			}
			var state string
			var claimed int
			db.Get(&state, "SELECT state FROM processes WHERE id = $1", res.sum.ProcessID)
			db.Get(&claimed, "SELECT count(*) FROM provisioning_requests WHERE claimed_by IS NOT NULL")
			if state != c.state || claimed != 0 {
				t.Errorf("run recorded %s with %d requests claimed; want %s and none", state, claimed, c.state)
			}
		})
	}
}

// TestSlowWriteBackBounded: a write-back stuck in the database (its row locked by
// someone else) is cancelled by the statement timeout; the run fails at once, sends
// nothing more, and leaves what it could not write to its lease: no request is sent
// twice by it.
func TestSlowWriteBackBounded(t *testing.T) {
	_, dsn := pgtest.New(t)
	const timeout = time.Second
	db, err := store.Open(context.Background(), dsn, store.Options{StatementTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var rs []req
	for _, c := range known.Smartcards[:4] {
		rs = append(rs, req{typ: "RESET_PIN", card: c})
	}
	insert(t, db, rs...)
	sim := simulator.New(simulator.Config{Token: token, DestinationID: dest, Seed: 1}, known)
	h := &lockFirst{sim: sim, db: db, t: t, tx: make(chan *sql.Tx, 1), arrived: make(chan struct{}, 100)}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{Concurrency: 1, BatchSize: 1, MaxDuration: time.Minute})

	start := time.Now()
	sum, err := d.Run(context.Background())
	took := time.Since(start)
	tx := <-h.tx // the lock on the first request, held until now
	tx.Rollback()

	if err == nil || !strings.Contains(err.Error(), "write back batch") || !strings.Contains(err.Error(), "statement timeout") {
		t.Fatalf("run: %v; want the write-back cancelled by the statement timeout", err)
	}
	// The bound: the statement timeout, plus a few sends and write-backs; far below
	// MaxDuration, and below the lease (5m) after which the requests go again.
	if bound := timeout + 10*time.Second; took > bound {
		t.Errorf("the run took %v; want at most %v", took.Round(time.Millisecond), bound)
	}
	seen := map[string]int{}
	for _, e := range sim.AppliedLog() {
		seen[e.CommandID]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("command %s applied %d times", id, n)
		}
	}
	if st := sim.Stats(); st.Replayed != 0 || st.CommandsReceived != len(seen) {
		t.Errorf("the gateway received %d commands (%d replayed) for %d distinct ones: something was sent twice", st.CommandsReceived, st.Replayed, len(seen))
	}
	// The first request's answer was not written: it stays PENDING and claimed by
	// the failed run until its lease expires; then another run sends it again (the
	// gateway answers it as a replay).
	var first struct {
		State   string `db:"life_cycle_state"`
		Claimed int64  `db:"claimed_by"`
	}
	if err := db.Get(&first, "SELECT life_cycle_state, coalesce(claimed_by, 0) AS claimed_by FROM provisioning_requests ORDER BY sequence_number LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	if first.State != "PENDING" || first.Claimed != sum.ProcessID {
		t.Errorf("first request %+v; want PENDING, left to the lease of run %d", first, sum.ProcessID)
	}
	var state string
	db.Get(&state, "SELECT state FROM processes WHERE id = $1", sum.ProcessID)
	if state != "FAILED" {
		t.Errorf("run recorded %s, want FAILED", state)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the run ended by its own deadline, not the statement timeout: %v", err)
	}
}
