package chaos_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
)

// TestGatewayDown is scenario 6: the gateway down (every call 503, a maintenance
// page) for 2 minutes (reduced 4 s) while work piles up, a scheduler running a
// processing run every 2 s with the default max_attempts (10); then back.
//
// No retry storm: a request's sends back off exponentially (base 2 s, equal jitter:
// the n-th unsettled send waits at least 2^(n-2) s), so within an outage of D seconds
// a request is sent at most 1 + log2(D+1) times. The commands the gateway saw while
// down must stay within that times the requests at the head of their card's queue
// (the only ones sent), plus one round in flight when it went down. Without backoff,
// a run every 2 s would send D/2 per head. Nothing may be rejected for its attempts
// (E_MAX_ATTEMPTS), and the backlog drains in order (the common check).
func TestGatewayDown(t *testing.T) {
	seed := seedOf(t)
	outage := pick(4*time.Second, 2*time.Minute)
	w := genWorkload(seed, pick(60, 300), pick(4, 8), 10)
	db, dsn := pgtest.New(t)
	half := len(w.reqs) / 2
	insert(t, db, workload{reqs: w.reqs[:half]})
	gw := newGateway(t, seed, simulator0(), w.known)
	p := newProgram(t, dsn, gw.srv.URL)
	conf := schedConf{dsn: dsn, gateway: gw.srv.URL, instance: "chaos6", process: "*/2 * * * * *", maxAttempts: 10}.write(t, t.TempDir())
	sched := p.start("scheduler", "--config", conf)
	waitFor(t, time.Minute, "a processing run of the scheduler", func() bool {
		return count(t, db, `SELECT count(*) FROM job_runs WHERE job = 'process' AND state IN ('SUCCEEDED', 'REJECTED')`) > 0
	})

	gw.down.Store(true)
	began := time.Now()
	insert(t, db, workload{reqs: w.reqs[half:]})
	heads := count(t, db, `SELECT count(DISTINCT smartcard_ca_id) FROM provisioning_requests WHERE life_cycle_state = 'PENDING'`)
	var midCommands int64
	for time.Since(began) < outage {
		if midCommands == 0 && time.Since(began) >= outage/2 {
			midCommands = gw.downCommands.Load()
		}
		time.Sleep(100 * time.Millisecond)
	}
	gw.down.Store(false)
	restored := time.Now()
	batches, commands := gw.downHits.Load(), gw.downCommands.Load()
	perHead := 1 + math.Floor(math.Log2(outage.Seconds()+1))
	bound := int64(float64(heads)*perHead) + int64(heads)
	if commands > bound {
		t.Errorf("the gateway saw %d commands in %d batches during an outage of %v: more than %d (%d heads × %.0f sends + one round): a retry storm",
			commands, batches, outage, bound, heads, perHead)
	}
	if commands == 0 {
		t.Errorf("no command came during the outage: the scenario tested nothing")
	}
	waitFor(t, pick(2*time.Minute, 8*time.Minute), "the backlog to drain", func() bool { return pendingDue(t, db) == 0 })
	drained := time.Since(restored)
	if sched.wait(0) != running {
		t.Errorf("the scheduler exited:\n%s", sched.output())
	}
	if n := count(t, db, `SELECT count(*) FROM provisioning_requests WHERE error_code = 'E_MAX_ATTEMPTS'`); n > 0 {
		t.Errorf("%d requests REJECTED E_MAX_ATTEMPTS after an outage of %v", n, outage)
	}
	o := check(t, db, gw.sim, len(w.reqs))
	record(t, row{scenario: "6 gateway down " + outage.String(), runs: count(t, db, `SELECT count(*) FROM job_runs WHERE job = 'process'`), faults: int(batches),
		requests: o.requests, lost: o.lost, twice: o.twice, outOfOrder: o.outOfOrder, recover: drained,
		note: fmt.Sprintf("during the outage: %d batches (%.2f/s), %d commands (%d in its first half), bound %d (%d heads); runs: the scheduler's",
			batches, float64(batches)/outage.Seconds(), commands, midCommands, bound, heads)})
}
