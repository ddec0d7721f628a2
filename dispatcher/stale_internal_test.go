package dispatcher

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

// TestStaleStatisticsShapes: the run's statements alone, with no refresh of the
// statistics, keep plans that finish on statistics that predate a bulk import
// (issue 15): 2,000 settled requests analysed, then 20,000 PENDING ones over 8,000
// cards that the statistics do not know of. Before, the first claim took minutes.
func TestStaleStatisticsShapes(t *testing.T) {
	const (
		settled, pending, cards = 2000, 20000, 8000
		bound                   = 2 * time.Minute // a few seconds here; generous for a busy machine
	)
	db, _ := pgtest.New(t)
	exec := mustExec(t, db)
	exec(`INSERT INTO provisioning_requests (type, life_cycle_state, smartcard_ca_id, executed_date)
	      SELECT 'RESET_PIN', 'COMPLETED', 'SC' || lpad((g % $1)::text, 10, '0'), now() - interval '1 day'
	      FROM generate_series(1, $2) g`, cards, settled)
	exec("ANALYZE provisioning_requests")
	// Several requests a card, EXPRESS among them: the promotion and the card queue
	// are exercised too.
	exec(`INSERT INTO provisioning_requests (type, priority, smartcard_ca_id, scheduled_date)
	      SELECT 'RESET_PIN', CASE WHEN g % 50 = 0 THEN 'EXPRESS' ELSE 'REGULAR' END,
	             'SC' || lpad((g % $1)::text, 10, '0'), now() - interval '1 second'
	      FROM generate_series(1, $2) g`, cards, pending)

	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1}, benchKnown(cards))
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	client, err := NewClient(GatewayConfig{URL: srv.URL, Token: "tok", DestinationID: "CRM01", Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	d, err := New(db, client, log, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.noStatsRefresh = true

	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	sum, err := d.Run(ctx)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the run did not finish within %v: %+v", bound, sum)
	}
	var left, known int
	if err := db.Get(&left, "SELECT count(*) FROM provisioning_requests WHERE life_cycle_state = 'PENDING'"); err != nil {
		t.Fatal(err)
	}
	if left != 0 || sum.Completed != pending {
		t.Errorf("%d requests still PENDING, %d completed of %d", left, sum.Completed, pending)
	}
	// The statistics still know no PENDING row: the plans held on their own.
	if err := db.Get(&known, `SELECT count(*) FROM pg_stats WHERE tablename = 'provisioning_requests'
	        AND attname = 'life_cycle_state' AND 'PENDING' = ANY (most_common_vals::text::text[])`); err != nil {
		t.Fatal(err)
	}
	if known != 0 {
		t.Error("the statistics were refreshed during the run: the test no longer tests the statements alone")
	}
	t.Logf("%d requests in %v on stale statistics, %d batches", pending, took.Round(time.Millisecond), sum.Batches)
}

// mustExec returns a function that runs a statement on db and fails t if it fails.
func mustExec(t *testing.T, db *store.DB) func(q string, args ...any) {
	return func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
