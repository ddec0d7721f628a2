package dispatcher_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/provisioning"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

// sendRow is a row of request_attempts as the tests read it.
type sendRow struct {
	Number    int64  `db:"number"`
	ProcessID int64  `db:"process_id"`
	BatchID   string `db:"batch_id"`
	CommandID string `db:"command_id"`
	Outcome   string `db:"outcome"`
	Status    int    `db:"http_status"`
	Code      string `db:"error_code"`
	Answered  bool   `db:"answered"`
	Replayed  bool   `db:"replayed"`
}

func sends(t *testing.T, db *store.DB) []sendRow {
	t.Helper()
	var rows []sendRow
	if err := db.Select(&rows, `SELECT r.number, a.process_id, a.batch_id, a.command_id, a.outcome,
	        coalesce(a.http_status, 0) AS http_status, coalesce(a.error_code, '') AS error_code,
	        a.answered_at IS NOT NULL AS answered, a.replayed
	    FROM request_attempts a JOIN provisioning_requests r ON r.id = a.request_id
	    ORDER BY a.id`); err != nil {
		t.Fatal(err)
	}
	return rows
}

// closedPort is the URL of a loopback port nobody listens on: connections to it are
// refused, as when the gateway is down.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestSendsRecorded: every command sent gets its row of request_attempts, written
// with the outcome, by kind; a command refused before sending gets none.
func TestSendsRecorded(t *testing.T) {
	cases := []struct {
		name    string
		faults  simulator.Faults
		r       req
		outcome string
		status  int
		code    string
	}{
		{"completed", simulator.Faults{}, req{typ: "RESET_PIN", card: "1000000001"}, "completed", 200, ""},
		{"rejected", simulator.Faults{}, req{typ: "RESET_PIN", card: "1000000404"}, "rejected", 200, "E_UNKNOWN_SMARTCARD"},
		{"retry", simulator.Faults{Busy: 1}, req{typ: "RESET_PIN", card: "1000000001"}, "retry", 200, "E_BUSY"},
		{"503", simulator.Faults{Unavailable: 1, RetryAfter: time.Second}, req{typ: "RESET_PIN", card: "1000000001"}, "503", 503, "HTTP_503"},
		{"unknown", simulator.Faults{PartialFailure: 1}, req{typ: "RESET_PIN", card: "1000000001"}, "unknown", 500, provisioning.CodeOutcomeUnknown},
		{"not sent", simulator.Faults{}, req{typ: "SET_PIN", card: "1000000001", pin: "12a4"}, "", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			_, srv := newSim(t, c.faults)
			insert(t, db, c.r)
			// MaxRequests: one send. A run goes on claiming while it lasts, and on a
			// loaded machine an E_BUSY's backoff or a 503's Retry-After (both about a
			// second) may end before it does: the request would be sent again.
			d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{MaxRequests: 1})
			sum := run(t, d)
			got := sends(t, db)
			if c.outcome == "" {
				if len(got) != 0 {
					t.Fatalf("a command refused before sending has sends: %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d sends, want 1: %+v", len(got), got)
			}
			s := got[0]
			f := finals(t, db)[0]
			if s.Outcome != c.outcome || s.Status != c.status || s.Code != c.code || s.ProcessID != sum.ProcessID ||
				s.CommandID != provisioning.CommandID(f.Number, 0) || !strings.HasPrefix(s.BatchID, "run-") || !s.Answered {
				t.Errorf("send %+v, want outcome %s, HTTP %d, code %q, run %d", s, c.outcome, c.status, c.code, sum.ProcessID)
			}
		})
	}
}

// TestSendsKeepEveryTry: a request sent three times (RETRY twice, then completed)
// has three sends, in order, the same command_id each time; its attempts count the
// two unsettled ones.
func TestSendsKeepEveryTry(t *testing.T) {
	db, _ := pgtest.New(t)
	_, busy := newSim(t, simulator.Faults{Busy: 1})
	insert(t, db, req{typ: "RESET_PIN", card: "1000000001"})
	// MaxRequests: one send per run (see TestSendsRecorded).
	d := newDispatcher(t, db, busy.URL, 5*time.Second, dispatcher.Options{MaxRequests: 1})
	for range 2 {
		run(t, d)
		// Due again at once, not after the backoff.
		if _, err := db.Exec(`UPDATE provisioning_requests SET next_attempt_at = NULL`); err != nil {
			t.Fatal(err)
		}
	}
	_, ok := newSim(t, simulator.Faults{})
	run(t, newDispatcher(t, db, ok.URL, 5*time.Second, dispatcher.Options{}))
	got := sends(t, db)
	if len(got) != 3 || got[0].Outcome != "retry" || got[1].Outcome != "retry" || got[2].Outcome != "completed" ||
		got[0].CommandID != got[2].CommandID {
		t.Fatalf("sends %+v, want retry, retry, completed with one command_id", got)
	}
	if f := finals(t, db)[0]; f.State != "COMPLETED" || f.Attempts != 2 {
		t.Errorf("request %+v, want COMPLETED after 2 counted attempts", f)
	}
}

// TestOutageIsNotAnAttempt (issue 16, 0.1): with the gateway unreachable (a port
// nobody listens on: connection refused), every run fails (FAILED, an error: exit 1)
// and counts no attempt, however many runs try: twelve runs with MaxAttempts 2
// reject nothing. Each try is in the history as "refused". Once the gateway is back,
// the requests complete.
func TestOutageIsNotAnAttempt(t *testing.T) {
	db, _ := pgtest.New(t)
	insert(t, db,
		req{typ: "RESET_PIN", card: "1000000001"}, req{typ: "RESET_PIN", card: "1000000001"},
		req{typ: "RESET_PIN", card: "1000000002"}, req{typ: "PAIR", card: "1000000003", stb: "7700000003"})
	down := closedPort(t)
	opts := dispatcher.Options{MaxAttempts: 2, MaxAttemptsAge: dispatcher.NoMaxAttemptsAge, BatchSize: 2, Concurrency: 2}
	d := newDispatcher(t, db, down, 5*time.Second, opts)
	const runs = 12
	for i := 1; i <= runs; i++ {
		sum, err := d.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("run %d during the outage: err %v, want the gateway unreachable", i, err)
		}
		var state string
		if err := db.Get(&state, `SELECT state FROM processes WHERE id = $1`, sum.ProcessID); err != nil {
			t.Fatal(err)
		}
		if state != string(provisioning.RunFailed) || sum.Rejected != 0 || sum.Completed != 0 {
			t.Fatalf("run %d: state %s, summary %+v; want FAILED, nothing settled", i, state, sum)
		}
		for _, f := range finals(t, db) {
			if f.State != "PENDING" || f.Attempts != 0 || f.Claimed || (f.Next != nil && f.Next.After(time.Now())) {
				t.Fatalf("run %d: %+v, want PENDING, no attempt, not claimed, due", i, f)
			}
		}
	}
	got := sends(t, db)
	if len(got) < runs {
		t.Fatalf("%d sends recorded for %d runs", len(got), runs)
	}
	for _, s := range got {
		if s.Outcome != "refused" || s.Status != 0 || s.Answered || s.Code != provisioning.CodeUnreachable {
			t.Fatalf("send during the outage: %+v", s)
		}
	}

	_, srv := newSim(t, simulator.Faults{})
	d = newDispatcher(t, db, srv.URL, 5*time.Second, opts)
	for range 3 { // a card's second request goes once its first is written back
		run(t, d)
	}
	for _, f := range finals(t, db) {
		if f.State != "COMPLETED" || f.Attempts != 0 {
			t.Errorf("after the outage: %+v, want COMPLETED with no attempt counted", f)
		}
	}
}

// TestMaxAttemptsAge: E_MAX_ATTEMPTS needs MaxAttempts counted sends and
// MaxAttemptsAge since the first: sends left unsettled before that age keep the
// request PENDING; after it, the next unsettled send rejects it.
func TestMaxAttemptsAge(t *testing.T) {
	db, _ := pgtest.New(t)
	_, srv := newSim(t, simulator.Faults{Busy: 1})
	insert(t, db, req{typ: "RESET_PIN", card: "1000000001"})
	d := newDispatcher(t, db, srv.URL, 5*time.Second, dispatcher.Options{MaxAttempts: 1, MaxAttemptsAge: time.Hour, MaxRequests: 1})
	due := func() {
		if _, err := db.Exec(`UPDATE provisioning_requests SET next_attempt_at = NULL`); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		if sum := run(t, d); sum.Retried != 1 {
			t.Fatalf("send %d within the age: %+v, want retried", i, sum)
		}
		if f := finals(t, db)[0]; f.State != "PENDING" || f.Attempts != i {
			t.Fatalf("send %d within the age: %+v", i, f)
		}
		due()
	}
	var first time.Time
	if err := db.Get(&first, `SELECT first_attempt_at FROM provisioning_requests`); err != nil {
		t.Fatal(err)
	}
	if time.Since(first) > time.Minute {
		t.Fatalf("first_attempt_at %v: not the first send's time", first)
	}
	// The first send an hour and a minute ago.
	if _, err := db.Exec(`UPDATE provisioning_requests SET first_attempt_at = now() - interval '61 minutes'`); err != nil {
		t.Fatal(err)
	}
	sum := run(t, d)
	if f := finals(t, db)[0]; sum.Rejected != 1 || f.State != "REJECTED" || f.Code != provisioning.CodeMaxAttempts || f.Attempts != 4 {
		t.Errorf("after the age: summary %+v, request %+v, want REJECTED E_MAX_ATTEMPTS after 4 attempts", sum, f)
	}
}
