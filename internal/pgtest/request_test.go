package pgtest_test

import (
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/internal/pgtest"
)

type row struct {
	ID        int64          `db:"id"`
	Number    int64          `db:"number"`
	Sequence  int64          `db:"sequence_number"`
	Type      string         `db:"type"`
	Priority  string         `db:"priority"`
	State     string         `db:"life_cycle_state"`
	Card      string         `db:"smartcard_ca_id"`
	Services  pq.StringArray `db:"service_ca_ids"`
	PIN       *string        `db:"pin"`
	Response  *string        `db:"response"`
	Due       bool           `db:"due"`
	Executed  *time.Time     `db:"executed_date"`
	Attempts  int            `db:"attempts"`
	ProcessID *int64         `db:"process_id"`
}

// TestRequest: a request with no options is a due PENDING REGULAR RESET_PIN for the
// default smartcard, with NULL where nothing was said; the options given are written
// as given, ” apart from NULL.
func TestRequest(t *testing.T) {
	db, _ := pgtest.New(t)
	executed := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a := pgtest.Request(t, db, pgtest.RequestOpts{})
	b := pgtest.Request(t, db, pgtest.RequestOpts{
		Type: "ADD_PRODUCTS", Priority: "EXPRESS", State: "REJECTED", Smartcard: "C9", Services: []string{"P-1", "P-2"},
		PIN: pgtest.Ptr("1234"), Response: pgtest.Ptr(""), Number: 77, ScheduledDate: pgtest.Ptr(time.Now().Add(time.Hour)),
		ExecutedDate: &executed, Attempts: 3, ProcessID: 5,
	})
	var got []row
	if err := db.Select(&got, `SELECT id, number, sequence_number, type, priority, life_cycle_state, smartcard_ca_id,
	        service_ca_ids, pin, response, scheduled_date <= now() AS due, executed_date, attempts, process_id
	    FROM provisioning_requests ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != a || got[1].ID != b {
		t.Fatalf("ids %d, %d: rows %+v", a, b, got)
	}
	g := got[0]
	if g.Type != "RESET_PIN" || g.Priority != "REGULAR" || g.State != "PENDING" || g.Card != pgtest.DefaultSmartcard ||
		g.Services != nil || g.PIN != nil || g.Response != nil || !g.Due || g.Executed != nil || g.Attempts != 0 || g.ProcessID != nil {
		t.Errorf("defaults: %+v", g)
	}
	g = got[1]
	if g.Type != "ADD_PRODUCTS" || g.Priority != "EXPRESS" || g.State != "REJECTED" || g.Card != "C9" || len(g.Services) != 2 ||
		g.PIN == nil || *g.PIN != "1234" || g.Response == nil || *g.Response != "" || g.Number != 77 || g.Due ||
		g.Executed == nil || !g.Executed.Equal(executed) || g.Attempts != 3 || g.ProcessID == nil || *g.ProcessID != 5 {
		t.Errorf("options: %+v", g)
	}
	if g.Sequence <= got[0].Sequence {
		t.Errorf("sequence numbers %d then %d: want rising", got[0].Sequence, g.Sequence)
	}
}

// TestRequests: many requests, some setting columns the others leave to their
// defaults, over more than one statement: the ids come back in the order given.
func TestRequests(t *testing.T) {
	db, _ := pgtest.New(t)
	const n = 2500 // three statements
	reqs := make([]pgtest.RequestOpts, n)
	for i := range reqs {
		reqs[i].Number = int64(i + 1)
		if i%3 == 0 {
			reqs[i].PIN = pgtest.Ptr("0000")
		}
		if i%5 == 0 {
			reqs[i].SequenceNumber = int64(1_000_000 + i)
		}
	}
	ids := pgtest.Requests(t, db, reqs...)
	if len(ids) != n {
		t.Fatalf("%d ids, want %d", len(ids), n)
	}
	var bad int
	if err := db.Get(&bad, `SELECT count(*) FROM provisioning_requests r JOIN unnest($1::bigint[]) WITH ORDINALITY AS u (id, i) USING (id)
	    WHERE r.number <> u.i OR (r.pin IS NOT NULL) <> ((u.i - 1) % 3 = 0)
	       OR (r.sequence_number >= 1000000) <> ((u.i - 1) % 5 = 0)`, pq.Int64Array(ids)); err != nil {
		t.Fatal(err)
	}
	var total int
	db.Get(&total, `SELECT count(*) FROM provisioning_requests`)
	if bad != 0 || total != n {
		t.Errorf("%d of %d rows differ from what was asked", bad, total)
	}
	if got := pgtest.Requests(t, db); got != nil {
		t.Errorf("no requests: %v", got)
	}
}
