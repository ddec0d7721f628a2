package chaos_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/simulator"
)

// aheadBound is the most REGULAR commands sent between an EXPRESS request's creation
// and its own send, in batches of the run's look-ahead: a run holds up to twice its
// concurrency in batches claimed and not yet sent (the slots and as many waiting), and
// a claim under way when the EXPRESS request was created (it cannot see it) may add as
// many again; the next claim takes it before any REGULAR request. A count, not a time:
// at --rate R it is aheadBound/R seconds and a run's start, which a loaded machine
// stretches at will (a bound of 3 s failed under a CPU hog with nothing wrong).
func aheadBound(concurrency, batch int) int { return 2 * (2 * concurrency) * batch }

// TestPriority is scenario 7: a REGULAR backlog (2,000, reduced 150) and a steady
// stream of EXPRESS requests at half the run's throughput (--rate 100 commands/s:
// 50 a second). The REGULAR backlog still drains, within its share of what the run
// sends, and no EXPRESS request waits behind more than aheadBound REGULAR commands.
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
	const concurrency, batch = 2, 10
	args := processArgs("--rate", fmt.Sprint(rate), "--batch-size", fmt.Sprint(batch), "--concurrency", fmt.Sprint(concurrency))

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
	// The REGULAR requests drain at what the EXPRESS stream leaves of what the run
	// sends: half the rate, or less on a machine too loaded to keep the rate (then by
	// the throughput measured, every send's time in request_attempts).
	var sends int
	var sending float64
	if err := db.QueryRow(`SELECT count(*), coalesce(extract(epoch FROM max(sent_at) - min(sent_at)), 0) FROM request_attempts`).Scan(&sends, &sending); err != nil {
		t.Fatal(err)
	}
	throughput := float64(rate)
	if sending > 0 {
		throughput = min(throughput, float64(sends)/sending)
	}
	share := max(throughput-float64(express)/streamFor.Seconds(), throughput/10)
	regularBound := time.Duration(float64(regular)/share*1.5*float64(time.Second)) + 5*time.Second
	if regularDone > regularBound {
		t.Errorf("the REGULAR backlog of %d drained in %v, more than %v (the run sent %.0f commands/s)", regular, regularDone.Round(time.Millisecond), regularBound, throughput)
	}
	var worst, p50 float64
	if err := db.Get(&worst, `SELECT coalesce(max(extract(epoch FROM executed_date - created_at)), 0) FROM provisioning_requests WHERE priority = 'EXPRESS'`); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&p50, `SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM executed_date - created_at)), 0) FROM provisioning_requests WHERE priority = 'EXPRESS'`); err != nil {
		t.Fatal(err)
	}
	// Per EXPRESS request, the REGULAR commands sent after its creation and before its
	// own (first) send.
	var ahead int
	if err := db.Get(&ahead, `SELECT coalesce(max((SELECT count(*) FROM request_attempts ra JOIN provisioning_requests r ON r.id = ra.request_id
	        WHERE r.priority = 'REGULAR' AND ra.sent_at > e.created_at AND ra.sent_at < es.first)), 0)
	    FROM provisioning_requests e
	    JOIN (SELECT request_id, min(sent_at) AS first FROM request_attempts GROUP BY 1) es ON es.request_id = e.id
	    WHERE e.priority = 'EXPRESS'`); err != nil {
		t.Fatal(err)
	}
	if bound := aheadBound(concurrency, batch); ahead > bound {
		t.Errorf("an EXPRESS request waited behind %d REGULAR commands, more than %d", ahead, bound)
	}
	o := check(t, db, gw.sim, len(w.reqs)+express)
	record(t, row{scenario: "7 EXPRESS stream at half the rate", runs: int(p.runs.Load()), faults: express, requests: o.requests, lost: o.lost,
		twice: o.twice, outOfOrder: o.outOfOrder, recover: regularDone,
		note: fmt.Sprintf("%d EXPRESS over %v beside %d REGULAR at --rate %d; EXPRESS wait p50 %.2fs, max %.2fs, behind at most %d REGULAR (bound %d); REGULAR drained in %v (bound %v; shown as time to recover)",
			express, streamFor, regular, rate, p50, worst, ahead, aheadBound(concurrency, batch), regularDone.Round(100*time.Millisecond), regularBound.Round(time.Second))})
}
