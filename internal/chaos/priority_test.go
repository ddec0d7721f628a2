package chaos_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/simulator"
)

// expressBound is the longest an EXPRESS request may wait, from its creation to its
// outcome, while REGULAR work is backlogged: the run claims a few batches ahead
// (concurrency + as many waiting, 40 requests here, 0.4 s at the rate below), plus
// a run's start when one ends; 3 s leaves room for a busy machine (-race).
const expressBound = 3 * time.Second

// TestPriority is scenario 7: a REGULAR backlog (2,000, reduced 150) and a steady
// stream of EXPRESS requests at half the run's throughput (--rate 100 commands/s:
// 50 a second). The REGULAR backlog still drains, within its share of the rate, and no
// EXPRESS request waits longer than expressBound.
func TestPriority(t *testing.T) {
	seed := seedOf(t)
	const rate = 100
	regular := pick(150, 2000)
	streamFor := time.Duration(float64(regular)/(rate/2)*float64(time.Second)) + 2*time.Second
	maxExpress := int(streamFor.Seconds()*rate/2) + 50
	w := genWorkload(seed, regular/3, 3, 0)
	for i := range maxExpress {
		w.known.Smartcards = append(w.known.Smartcards, fmt.Sprintf("EX%08d", i+1))
	}
	db, dsn := pgtest.New(t)
	insert(t, db, w)
	gw := newGateway(t, seed, simulator.Faults{}, w.known)
	p := newProgram(t, dsn, gw.srv.URL)
	args := processArgs("--rate", fmt.Sprint(rate), "--batch-size", "10", "--concurrency", "2")

	// The stream begins once a run is at work on the REGULAR backlog: the bound is
	// on how the run orders its work, not on how long a process takes to start on
	// a loaded machine (seconds under make test beside other work, where the reduced
	// stream lasts 5 s).
	ch := p.start(args...)
	waitFor(t, time.Minute, "the first run to claim", func() bool {
		return count(t, db, `SELECT count(*) FROM provisioning_requests WHERE claimed_by IS NOT NULL OR life_cycle_state <> 'PENDING'`) > 0
	})
	began := time.Now()
	express := 0
	var regularDone time.Duration
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Since(began) < streamFor || pendingDue(t, db) > 0 {
		if time.Since(began) > streamFor+2*time.Minute {
			t.Fatalf("requests still PENDING %v after the stream ended", 2*time.Minute)
		}
		if time.Since(began) < streamFor && express+5 <= maxExpress {
			batch := make([]pgtest.RequestOpts, 5)
			for i := range batch {
				express++
				batch[i] = pgtest.RequestOpts{Type: casapi.TypeResetPIN, Priority: "EXPRESS", Smartcard: fmt.Sprintf("EX%08d", express)}
			}
			pgtest.Requests(t, db, batch...)
		}
		if ch == nil || ch.wait(0) != running {
			ch = p.start(args...)
		}
		if regularDone == 0 && count(t, db, `SELECT count(*) FROM provisioning_requests WHERE priority = 'REGULAR' AND life_cycle_state = 'PENDING'`) == 0 {
			regularDone = time.Since(began)
		}
		<-tick.C
	}
	ch.wait(time.Minute)
	if regularDone == 0 {
		regularDone = time.Since(began)
	}
	// The REGULAR requests drain at what the EXPRESS stream leaves of the rate: half.
	regularBound := time.Duration(float64(regular)/(rate/2)*1.5*float64(time.Second)) + 5*time.Second
	if regularDone > regularBound {
		t.Errorf("the REGULAR backlog of %d drained in %v, more than %v", regular, regularDone.Round(time.Millisecond), regularBound)
	}
	var worst, p50 float64
	if err := db.Get(&worst, `SELECT coalesce(max(extract(epoch FROM executed_date - created_at)), 0) FROM provisioning_requests WHERE priority = 'EXPRESS'`); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&p50, `SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM executed_date - created_at)), 0) FROM provisioning_requests WHERE priority = 'EXPRESS'`); err != nil {
		t.Fatal(err)
	}
	if time.Duration(worst*float64(time.Second)) > expressBound {
		t.Errorf("an EXPRESS request waited %.2fs, more than %v", worst, expressBound)
	}
	o := check(t, db, gw.sim, len(w.reqs)+express)
	record(t, row{scenario: "7 EXPRESS stream at half the rate", runs: int(p.runs.Load()), faults: express, requests: o.requests, lost: o.lost,
		twice: o.twice, outOfOrder: o.outOfOrder, recover: regularDone,
		note: fmt.Sprintf("%d EXPRESS over %v beside %d REGULAR at --rate %d; EXPRESS wait p50 %.2fs, max %.2fs (bound %v); REGULAR drained in %v (bound %v; shown as time to recover)",
			express, streamFor, regular, rate, p50, worst, expressBound, regularDone.Round(100*time.Millisecond), regularBound.Round(time.Second))})
}
