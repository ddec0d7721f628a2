package ops_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// referenceBreakdown is the PENDING half of queue_counts.sql as it was before
// pending_queue (migration 000035): the same rules read from provisioning_requests
// itself, the truth the breakdown from pending_queue must equal.
const referenceBreakdown = `
WITH pending AS (
    SELECT number, type, priority, scheduled_date, created_at, own, sequence_number,
           CASE WHEN own <> 'ready' THEN NULL
                WHEN sequence_number = first_value(sequence_number) OVER card THEN 'self'
                ELSE replace(first_value(own) OVER card, 'ready', 'due') END AS head
    FROM (
        SELECT number, type, priority, scheduled_date, created_at, smartcard_ca_id, sequence_number,
               CASE WHEN coalesce(lease_expires_at > $1, false) THEN 'in_flight'
                    WHEN held_at IS NOT NULL THEN 'held'
                    WHEN coalesce(next_attempt_at > $1, false) THEN 'retry_wait'
                    WHEN scheduled_date > $1 THEN 'scheduled'
                    ELSE 'ready' END AS own
        FROM provisioning_requests
        WHERE life_cycle_state = 'PENDING'
    ) p
    WINDOW card AS (PARTITION BY smartcard_ca_id ORDER BY sequence_number)
)
SELECT 'PENDING' AS state, type, priority, count(*) AS count,
       count(*) FILTER (WHERE own = 'in_flight') AS in_flight,
       count(*) FILTER (WHERE own = 'held') AS held,
       count(*) FILTER (WHERE own = 'retry_wait') AS retry_wait,
       count(*) FILTER (WHERE own = 'scheduled') AS scheduled,
       count(*) FILTER (WHERE head = 'self') AS due,
       count(*) FILTER (WHERE head = 'scheduled') AS blocked_by_scheduled,
       count(*) FILTER (WHERE head = 'retry_wait') AS blocked_by_retry_wait,
       count(*) FILTER (WHERE head = 'in_flight') AS blocked_by_in_flight,
       count(*) FILTER (WHERE head = 'held') AS blocked_by_held,
       count(*) FILTER (WHERE head = 'due') AS blocked_by_due,
       min(greatest(scheduled_date, created_at)) FILTER (WHERE head = 'self') AS oldest_due,
       (array_agg(number ORDER BY greatest(scheduled_date, created_at), sequence_number)
            FILTER (WHERE head = 'self'))[1] AS oldest_due_number,
       (array_agg(sequence_number ORDER BY greatest(scheduled_date, created_at), sequence_number)
            FILTER (WHERE head = 'self'))[1] AS oldest_due_sequence
FROM pending
GROUP BY type, priority
ORDER BY 2, 3`

// groupKey prints a group's counts, for comparing two breakdowns.
func groupKey(g ops.Group) string {
	due := "-"
	if g.OldestDueNumber != nil {
		due = fmt.Sprintf("%d/%d/%s", *g.OldestDueNumber, *g.OldestDueSequence, g.OldestDue.UTC().Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("%s %s %s n=%d in_flight=%d held=%d retry=%d scheduled=%d due=%d blocked_by=%+v oldest=%s",
		g.State, g.Type, g.Priority, g.Count, g.InFlight, g.Held, g.RetryWait, g.Scheduled, g.Due, g.BlockedBy, due)
}

// checkPendingQueue fails t unless pending_queue holds exactly the PENDING
// requests' columns and status's breakdown at now equals the reference's.
func checkPendingQueue(t *testing.T, db *store.DB, step string, now time.Time) {
	t.Helper()
	var stray int
	if err := db.Get(&stray, `SELECT count(*) FROM (
	        (SELECT smartcard_ca_id, sequence_number, number, type, priority, scheduled_date, created_at,
	                held_at IS NOT NULL, next_attempt_at, lease_expires_at
	         FROM provisioning_requests WHERE life_cycle_state = 'PENDING'
	         EXCEPT ALL
	         SELECT smartcard_ca_id, sequence_number, number, type, priority, scheduled_date, created_at,
	                held, next_attempt_at, lease_expires_at FROM pending_queue)
	        UNION ALL
	        (SELECT smartcard_ca_id, sequence_number, number, type, priority, scheduled_date, created_at,
	                held, next_attempt_at, lease_expires_at FROM pending_queue
	         EXCEPT ALL
	         SELECT smartcard_ca_id, sequence_number, number, type, priority, scheduled_date, created_at,
	                held_at IS NOT NULL, next_attempt_at, lease_expires_at
	         FROM provisioning_requests WHERE life_cycle_state = 'PENDING')) d`); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if stray != 0 {
		t.Errorf("%s: pending_queue and the PENDING requests differ by %d rows", step, stray)
	}
	groups, err := ops.CountRequests(context.Background(), db, now)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	var got []string
	for _, g := range groups {
		if g.State == "PENDING" {
			got = append(got, groupKey(g))
		}
	}
	var ref []ops.Group
	if err := db.Select(&ref, referenceBreakdown, now); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	var want []string
	for _, g := range ref {
		want = append(want, groupKey(g))
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("%s: status's breakdown\n%s\nwant (from provisioning_requests)\n%s", step, g, w)
	}
}

// TestPendingQueueFollowsTheTable: the PENDING requests that status breaks down
// (pending_queue, kept by triggers: migration 000035) are the table's after every
// kind of change, and the breakdown equals the one read from provisioning_requests:
// rows inserted (the importer's COPY, the Web API's insert), a processing run
// against the simulator (claims, write-backs that complete, reject and leave a
// request to retry), a claim left in flight, each lever (hold, release,
// reschedule, priority, cancel) and a retry, a request deleted, the dead rows
// vacuumed, and the table truncated; and at a later now, where what was scheduled
// or waiting for a retry is due.
func TestPendingQueueFollowsTheTable(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	now := time.Now()
	ago := func(d time.Duration) *time.Time { return pgtest.Ptr(now.Add(-d)) }
	in := func(d time.Duration) *time.Time { return pgtest.Ptr(now.Add(d)) }
	const cardC, cardD, cardE = "1000000003", "1000000004", "1000000005"
	// cardA's CANCEL_PRODUCTS is rejected by the gateway (retry_test.go); cardE is
	// unknown to it, so its requests are rejected too.
	_, d := gateway(t, db, []string{cardA, cardB, cardC, cardD}, 0, dispatcher.Options{BatchSize: 3, Concurrency: 1})
	pgtest.Requests(t, db,
		pgtest.RequestOpts{Smartcard: cardA, Type: "CANCEL_PRODUCTS", Services: []string{"P-1001"}},
		pgtest.RequestOpts{Smartcard: cardA, ScheduledDate: in(48 * time.Hour)},
		pgtest.RequestOpts{Smartcard: cardA, Priority: "EXPRESS"},
		pgtest.RequestOpts{Smartcard: cardB, ScheduledDate: in(2 * time.Hour)},
		pgtest.RequestOpts{Smartcard: cardB, Type: "PAIR", STB: pgtest.Ptr("STB1")},
		pgtest.RequestOpts{Smartcard: cardC, NextAttemptAt: in(time.Hour), Attempts: 1, ErrorCode: pgtest.Ptr("E_BUSY")},
		pgtest.RequestOpts{Smartcard: cardC},
		pgtest.RequestOpts{Smartcard: cardD, ClaimedBy: 99, LeaseExpiresAt: in(time.Minute)},
		pgtest.RequestOpts{Smartcard: cardD, Priority: "EXPRESS", CreatedAt: ago(time.Hour)},
		pgtest.RequestOpts{Smartcard: cardE, ScheduledDate: ago(3 * time.Hour)},
		pgtest.RequestOpts{Smartcard: cardE, State: "COMPLETED", ExecutedDate: ago(time.Minute)},
	)
	checkPendingQueue(t, db, "inserted", now)

	held := ops.LeverOptions{Expect: -1, Now: now, Actor: ops.Actor{Operator: "alice"}}
	pull := func(f ops.Filter, l ops.Lever) func() {
		return func() {
			if _, err := ops.Pull(ctx, db, f, l, held); err != nil {
				t.Fatal(err)
			}
		}
	}
	exec := func(q string, args ...any) func() {
		return func() {
			if _, err := db.Exec(q, args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	steps := []struct {
		name string
		do   func()
	}{
		{"COPY, as the importer writes", func() {
			tx := db.MustBegin()
			defer tx.Rollback()
			st, err := tx.Prepare(pq.CopyIn("provisioning_requests", "type", "smartcard_ca_id", "scheduled_date"))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range [][]any{{"RESET_PIN", cardC, now.Add(-time.Minute)}, {"PAIR", cardD, now.Add(time.Hour)}, {"UNPAIR", cardE, now}} {
				if _, err := st.Exec(r...); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.Exec(); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}},
		{"Web API insert", exec(`INSERT INTO provisioning_requests (type, smartcard_ca_id, priority) VALUES ('RESET_PIN', $1, 'EXPRESS'), ('PAIR', $1, 'REGULAR')`, cardE)},
		{"hold by card", pull(ops.Filter{Smartcard: cardB}, ops.Lever{Action: ops.ActionHold, Reason: "swap"})},
		{"processing run", func() {
			if _, err := d.Run(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{"claim left in flight", func() {
			tx := db.MustBegin()
			defer tx.Rollback()
			rows, err := tx.Query(provsql.ClaimRequests, 98, 1, 600, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			rows.Close()
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}},
		{"release", pull(ops.Filter{Smartcard: cardB}, ops.Lever{Action: ops.ActionRelease})},
		{"reschedule", pull(ops.Filter{Smartcard: cardB}, ops.Lever{Action: ops.ActionReschedule, At: now.Add(72 * time.Hour)})},
		{"priority", pull(ops.Filter{Smartcard: cardA}, ops.Lever{Action: ops.ActionPriority, Priority: "EXPRESS"})},
		{"cancel", pull(ops.Filter{Smartcard: cardB, Types: []string{"PAIR"}}, ops.Lever{Action: ops.ActionCancel, Reason: "x"})},
		{"retry", func() {
			if _, err := ops.Retry(ctx, db, ops.Filter{States: []string{"REJECTED"}}, ops.RetryOptions{Expect: -1, Now: now}); err != nil {
				t.Fatal(err)
			}
		}},
		{"lease released", exec(`UPDATE provisioning_requests SET claimed_by = NULL, lease_expires_at = NULL WHERE claimed_by = 99`)},
		{"request moved to another card", exec(`UPDATE provisioning_requests SET smartcard_ca_id = $1 WHERE smartcard_ca_id = $2 AND priority = 'EXPRESS'`, cardC, cardD)},
		{"deleted", exec(`DELETE FROM provisioning_requests WHERE smartcard_ca_id = $1`, cardE)},
		{"vacuumed", exec(provsql.VacuumQueueTables)},
		{"truncated", exec(`TRUNCATE provisioning_requests`)},
		{"inserted after", exec(`INSERT INTO provisioning_requests (type, smartcard_ca_id) VALUES ('PAIR', $1), ('PAIR', $1)`, cardA)},
	}
	for _, s := range steps {
		s.do()
		checkPendingQueue(t, db, s.name, now)
		checkPendingQueue(t, db, s.name+", three days later", now.Add(72*time.Hour+time.Minute))
		if t.Failed() {
			return // the steps after would only repeat it
		}
	}
}
