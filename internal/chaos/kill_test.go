package chaos_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/simulator"
)

// gatewayFaults: latency, E_BUSY, 500 after a partial apply, a dropped connection
// after the whole batch is applied, a stall after applying, and 503.
func gatewayFaults() simulator.Faults {
	return simulator.Faults{
		Latency: 5 * time.Millisecond, Jitter: 20 * time.Millisecond,
		Busy: 0.03, PartialFailure: 0.04, DropAfterApply: 0.03, Unavailable: 0.02,
		StallAfterApply: 0.05, Stall: 300 * time.Millisecond,
	}
}

// TestKill is scenario 1: processing runs killed with SIGKILL at random moments
// (50, reduced 4) under gateway faults; then runs finish the work.
func TestKill(t *testing.T) {
	seed := seedOf(t)
	wantKills := pick(4, 50)
	// The work goes in in thirds, the next whenever fewer than half a third is due
	// before a run starts: how much a run sends before its kill depends on the
	// machine (about 100 requests on a quiet one, where the full form's first 5,000
	// ran out after 38 and 47 kills of 50 when they went in at once).
	w := genWorkload(seed, pick(100, 1500), 3*pick(4, 10), 10)
	third := len(w.reqs) / 3
	db, dsn := pgtest.New(t)
	inserted := 0
	topUp := func() {
		insert(t, db, workload{reqs: w.reqs[inserted : inserted+third]})
		inserted += third
	}
	topUp()
	gw := newGateway(t, seed, gatewayFaults(), w.known)
	p := newProgram(t, dsn, gw.srv.URL)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))

	kills := 0
	var lastKill time.Time
	for i := 0; kills < wantKills; i++ {
		if i == wantKills*10 {
			t.Fatalf("only %d kills in %d runs: the runs are not at work when killed", kills, i)
		}
		if inserted < 3*third && pendingDue(t, db) < third/2 {
			topUp()
		}
		if pendingDue(t, db) == 0 {
			t.Logf("the work ran out after %d kills (%d requests)", kills, inserted)
			break
		}
		c := p.start(processArgs()...)
		// Kill once the run holds requests (mid-run), after a random extra delay.
		deadline := time.Now().Add(20 * time.Second)
		for count(t, db, `SELECT count(*) FROM provisioning_requests WHERE claimed_by IS NOT NULL AND lease_expires_at > now()`) == 0 &&
			time.Now().Before(deadline) && c.wait(0) == running {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(400 * time.Millisecond))))
		if c.kill() {
			kills++
			lastKill = time.Now()
		}
	}
	if kills < wantKills {
		t.Errorf("only %d kills of %d: the work ran out first", kills, wantKills)
	}
	took := drain(t, db, p, pick(2*time.Minute, 5*time.Minute))
	o := check(t, db, gw.sim, inserted)
	recovered := took
	if !lastKill.IsZero() {
		recovered = time.Since(lastKill)
	}
	st := gw.sim.Stats()
	if st.Replayed == 0 && kills >= 5 {
		t.Logf("no replay at the gateway: no kill caught a batch applied and not written back")
	}
	record(t, row{scenario: "1 SIGKILL runs", runs: int(p.runs.Load()), faults: kills, requests: o.requests, lost: o.lost,
		twice: o.twice, outOfOrder: o.outOfOrder, recover: recovered,
		note: "recover: last kill to all settled; gateway replays " + itoa(st.Replayed) + ", faults fired " + itoa(st.Faults.Busy+st.Faults.PartialFailure+st.Faults.DropAfterApply+st.Faults.StallAfterApply+st.Faults.Unavailable)})
}
