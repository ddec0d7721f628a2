package chaos_test

import (
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/simulator"
)

// TestTerminateBackend is scenario 3: the run's database sessions terminated with
// pg_terminate_backend while they claim and while they write back (15 of each,
// reduced 2), processing runs started one after another meanwhile; then runs finish.
func TestTerminateBackend(t *testing.T) {
	seed := seedOf(t)
	w := genWorkload(seed, pick(80, 400), pick(4, 12), 10)
	db, dsn := pgtest.New(t)
	insert(t, db, w)
	gw := newGateway(t, seed, simulator.Faults{}, w.known)
	p := newProgram(t, dsn, gw.srv.URL)

	want := pick(2, 15)
	killed := map[string]int{}
	var dbname string
	if err := db.Get(&dbname, `SELECT current_database()`); err != nil {
		t.Fatal(err)
	}
	var ch *child
	var last time.Time
	deadline := time.Now().Add(pick(30*time.Second, 3*time.Minute))
	for i := 0; (killed["claim"] < want || killed["write-back"] < want) && time.Now().Before(deadline); i++ {
		if i%200 == 0 && pendingDue(t, db) == 0 {
			break
		}
		if ch == nil || ch.wait(0) != running {
			// Small batches, one at a time, and no gateway latency: the run claims
			// often, so that a claim is caught in the act as often as a write-back.
			ch = p.start(processArgs("--batch-size", "2", "--concurrency", "1")...)
		}
		// The sessions of the program (not the test's) that are in a claim or a
		// write-back right now, known by the comment their SQL file starts with
		// (pg_stat_activity keeps the first track_activity_query_size bytes).
		var victims []struct {
			PID   int    `db:"pid"`
			Query string `db:"query"`
		}
		find := func() error {
			return db.Select(&victims, `SELECT pid, query FROM pg_stat_activity
			        WHERE datname = $1 AND pid <> pg_backend_pid() AND state = 'active' AND application_name = 'provisioner'
			          AND (query LIKE '-- Claims up to%' OR query LIKE '-- Writes back%')`, dbname)
		}
		if err := find(); err != nil {
			continue // the test's own session may have been hit: try again
		}
		for _, v := range victims {
			kind := "claim"
			if strings.HasPrefix(v.Query, "-- Writes back") {
				kind = "write-back"
			}
			if killed[kind] >= want {
				continue
			}
			var ok bool
			if err := db.Get(&ok, `SELECT pg_terminate_backend($1)`, v.PID); err == nil && ok {
				killed[kind]++
				last = time.Now()
			}
		}
	}
	if ch != nil {
		ch.wait(time.Minute)
	}
	t.Logf("terminated %d sessions mid-claim, %d mid-write-back", killed["claim"], killed["write-back"])
	if killed["claim"] == 0 || killed["write-back"] == 0 {
		t.Errorf("terminated %d claims and %d write-backs: the scenario did not hit both", killed["claim"], killed["write-back"])
	}
	drain(t, db, p, pick(2*time.Minute, 5*time.Minute))
	o := check(t, db, gw.sim, len(w.reqs))
	record(t, row{scenario: "3 pg_terminate_backend", runs: int(p.runs.Load()), faults: killed["claim"] + killed["write-back"], requests: o.requests,
		lost: o.lost, twice: o.twice, outOfOrder: o.outOfOrder, recover: time.Since(last),
		note: itoa(killed["claim"]) + " sessions terminated mid-claim, " + itoa(killed["write-back"]) + " mid-write-back"})
}
