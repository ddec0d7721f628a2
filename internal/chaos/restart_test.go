package chaos_test

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestPostgresRestart is scenario 2: PostgreSQL restarted mid-run, fast and immediate
// in turn (10 restarts, reduced 2), on the test's own cluster; then runs finish.
func TestPostgresRestart(t *testing.T) {
	c := ownCluster(t)
	seed := seedOf(t)
	w := genWorkload(seed, pick(60, 400), pick(4, 10), 10)
	dsn := clusterDB(t, c, "127.0.0.1")
	db := openDB(t, dsn)
	insert(t, db, w)
	gw := newGateway(t, seed, simulator0(), w.known)
	p := newProgram(t, dsn, gw.srv.URL)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))

	restarts := pick(2, 10)
	failedRuns := 0
	var last time.Time
	for i := 0; i < restarts; i++ {
		if pendingDue(t, db) == 0 {
			t.Logf("the work ran out after %d restarts", i)
			break
		}
		ch := p.start(processArgs()...)
		waitMidRun(t, db, ch)
		time.Sleep(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
		mode := []string{"fast", "immediate"}[i%2]
		if err := c.Restart(mode); err != nil {
			t.Fatal(err)
		}
		last = time.Now()
		code := ch.wait(time.Minute)
		switch code {
		case running:
			ch.kill()
			t.Errorf("restart %d (%s): the run did not end within a minute of the restart:\n%s", i, mode, ch.output())
		case 0, 3:
		default:
			failedRuns++
		}
		t.Logf("restart %d (-m %s): the run exited %d", i, mode, code)
	}
	drain(t, db, p, pick(2*time.Minute, 5*time.Minute))
	recovered := time.Since(last)
	o := check(t, db, gw.sim, len(w.reqs))
	stuck := count(t, db, `SELECT count(*) FROM processes WHERE state = 'RUNNING'`)
	record(t, row{scenario: "2 PG restart fast/immediate", runs: int(p.runs.Load()), faults: restarts, requests: o.requests, lost: o.lost,
		twice: o.twice, outOfOrder: o.outOfOrder, recover: recovered,
		note: itoa(failedRuns) + " runs failed on the restart (exit 1); " + itoa(stuck) + " processes rows left RUNNING (issue 16, 0.3)"})
}

// waitMidRun waits until some request is held under a live lease (a run at work), or
// the child ended, or 20 s passed.
func waitMidRun(t *testing.T, db interface {
	Get(dest any, query string, args ...any) error
}, ch *child) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ch.wait(0) == running {
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM provisioning_requests WHERE claimed_by IS NOT NULL AND lease_expires_at > now()`); err == nil && n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
