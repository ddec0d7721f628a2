package chaos_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"
)

// TestConnectionExhaustion is scenario 5: other clients take every connection
// PostgreSQL allows (max_connections of the test's own cluster) for 30 s (reduced
// 3 s) while a scheduler runs; a processing run started meanwhile must wait or fail
// cleanly, and the scheduler must keep ticking and resume its runs after.
func TestConnectionExhaustion(t *testing.T) {
	c := ownCluster(t)
	seed := seedOf(t)
	hold := pick(3*time.Second, 30*time.Second)
	w := genWorkload(seed, pick(60, 300), pick(4, 8), 10)
	dsn := clusterDB(t, c, "127.0.0.1")
	db := openDB(t, dsn)
	// Half the work now, half due while the connections are taken.
	half := len(w.reqs) / 2
	later := time.Now().Add(pick(5*time.Second, 20*time.Second))
	for i := half; i < len(w.reqs); i++ {
		w.reqs[i].ScheduledDate = &later
	}
	insert(t, db, w)
	gw := newGateway(t, seed, simulator0(), w.known)
	p := newProgram(t, dsn, gw.srv.URL)
	conf := schedConf{dsn: dsn, gateway: gw.srv.URL, instance: "chaos5", process: "*/2 * * * * *"}.write(t, t.TempDir())
	sched := p.start("scheduler", "--config", conf)
	waitFor(t, time.Minute, "a processing run of the scheduler", func() bool {
		return count(t, db, `SELECT count(*) FROM job_runs WHERE job = 'process' AND state IN ('SUCCEEDED', 'REJECTED')`) > 0
	})
	waitFor(t, time.Minute, "the first half to settle", func() bool { return pendingDue(t, db) == 0 })

	// The others take every connection there is.
	hog, err := sql.Open("postgres", c.URL("127.0.0.1", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	var held []*sql.Conn
	release := func() {
		for _, cn := range held {
			cn.Close()
		}
		held = nil
		hog.SetMaxIdleConns(0)
	}
	defer release()
	full := false
	for i := 0; i < 200 && !full; i++ {
		cn, err := hog.Conn(context.Background())
		if err == nil {
			err = cn.PingContext(context.Background())
		}
		var pe *pq.Error
		switch {
		case errors.As(err, &pe) && pe.Code == "53300":
			full = true
		case err != nil:
			t.Fatalf("hog connection %d: %v", i, err)
		default:
			held = append(held, cn)
		}
	}
	if !full {
		t.Fatalf("%d connections and PostgreSQL still accepts more", len(held))
	}
	began := time.Now()
	taken := len(held)
	// The second half falls due during the exhaustion.
	ch := p.start(processArgs()...)
	code := ch.wait(hold)
	for time.Since(began) < hold {
		time.Sleep(100 * time.Millisecond)
	}
	if sched.wait(0) != running {
		t.Errorf("the scheduler exited while the connections were taken:\n%s", sched.output())
	}
	release()
	released := time.Now()
	if code == running {
		code = ch.wait(time.Minute)
	}
	switch {
	case code == running:
		t.Errorf("the processing run started while the connections were taken did not end a minute after they were given back:\n%s", ch.output())
	case code == 1 && !strings.Contains(ch.output(), "too many clients"):
		t.Errorf("the run failed without saying why (want PostgreSQL's \"too many clients\"):\n%s", ch.output())
	case code != 0 && code != 1 && code != 3:
		t.Errorf("the run exited %d:\n%s", code, ch.output())
	}
	waitFor(t, 2*time.Minute, "a processing run of the scheduler after the exhaustion", func() bool {
		return count(t, db, `SELECT count(*) FROM job_runs WHERE job = 'process' AND state IN ('SUCCEEDED', 'REJECTED') AND started_at > $1`, released) > 0
	})
	schedBack := time.Since(released)
	waitFor(t, 3*time.Minute, "the scheduler to settle every request", func() bool {
		return time.Now().After(later) && pendingDue(t, db) == 0
	})
	o := check(t, db, gw.sim, len(w.reqs))
	record(t, row{scenario: "5 connections exhausted " + hold.String(), runs: int(p.runs.Load()), faults: 1, requests: o.requests, lost: o.lost,
		twice: o.twice, outOfOrder: o.outOfOrder, recover: time.Since(released),
		note: fmt.Sprintf("%d connections taken; the run started meanwhile exited %d; scheduler's first good run %v after", taken, code, schedBack.Round(100*time.Millisecond))})
}
