package chaos_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgcluster"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/tcpproxy"
)

// TestPostgresUnreachable is scenario 4: PostgreSQL unreachable for 30 s (reduced 3 s)
// behind a proxy the test controls, first refusing connections, then a blackhole
// that accepts them and passes nothing, while a scheduler (a processing run every 2 s)
// and `serve` run on it, and processing runs are started in each phase. Each must
// come back without a restart once the database is reachable again.
func TestPostgresUnreachable(t *testing.T) {
	seed := seedOf(t)
	outage := pick(3*time.Second, 30*time.Second)
	w := genWorkload(seed, pick(60, 300), pick(4, 10), 10)
	db, dsn := pgtest.New(t)
	// Half the work before the outage; the other half comes during it (the test
	// reaches the database directly, as the CRM on another network would).
	half := len(w.reqs) / 2
	insert(t, db, workload{reqs: w.reqs[:half]})
	gw := newGateway(t, seed, simulator0(), w.known)

	proxy, viaProxy := pgtest.NewProxy(t, dsn)
	p := newProgram(t, viaProxy, gw.srv.URL)

	// serve, with a token, and the scheduler.
	tok := p.start("tokens", "create", "chaos")
	if code := tok.wait(time.Minute); code != 0 {
		t.Fatalf("tokens create: exit %d\n%s", code, tok.output())
	}
	secret := ""
	for sc := bufio.NewScanner(strings.NewReader(tok.output())); sc.Scan(); {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.ContainsAny(l, " {") {
			secret = l
		}
	}
	port, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	serve := p.start("serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	showURL := fmt.Sprintf("http://127.0.0.1:%d/provisioning/provisioning_requests/show?token=%s&number=%d", port, url.QueryEscape(secret), 1)
	client := &http.Client{Timeout: 3 * time.Second}
	apiOK := func() bool {
		resp, err := client.Get(showURL)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	waitFor(t, 30*time.Second, "serve to answer", apiOK)

	conf := schedConf{dsn: viaProxy, gateway: gw.srv.URL, instance: "chaos4", process: "*/2 * * * * *"}.write(t, t.TempDir())
	sched := p.start("scheduler", "--config", conf)
	// The scheduler is at work before the outage.
	waitFor(t, time.Minute, "a processing run of the scheduler", func() bool {
		return count(t, db, `SELECT count(*) FROM job_runs WHERE job = 'process' AND state IN ('SUCCEEDED', 'REJECTED')`) > 0
	})

	// The outage: refused, then a blackhole; a processing run started in each.
	if err := proxy.Set(tcpproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	insert(t, db, workload{reqs: w.reqs[half:]})
	refusedRun := p.start(processArgs()...)
	// Refused until the run started in it has ended (at its first connection), and
	// at least half the outage: a loaded machine may take longer than that to start
	// it (under a CPU hog the run once connected after the refusal had ended).
	refusedCode := refusedRun.wait(max(outage/2, time.Minute))
	apiDuring := apiOK()
	for time.Since(began) < outage/2 {
		time.Sleep(100 * time.Millisecond)
	}
	if err := proxy.Set(tcpproxy.Blackhole); err != nil {
		t.Fatal(err)
	}
	blackholed := time.Now()
	blackholeRun := p.start(processArgs()...)
	for time.Since(blackholed) < outage/2 {
		time.Sleep(100 * time.Millisecond)
	}
	if sched.wait(0) != running {
		t.Errorf("the scheduler exited during the outage:\n%s", sched.output())
	}
	if serve.wait(0) != running {
		t.Errorf("serve exited during the outage:\n%s", serve.output())
	}
	if err := proxy.Set(tcpproxy.Pass); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()

	// Back: serve answers, the scheduler's runs succeed again, the runs started in
	// the outage end, and the work drains, all without a restart.
	waitFor(t, time.Minute, "serve to answer after the outage", apiOK)
	apiBack := time.Since(restored)
	waitFor(t, 2*time.Minute, "a processing run of the scheduler after the outage", func() bool {
		return count(t, db, `SELECT count(*) FROM job_runs WHERE job = 'process' AND state IN ('SUCCEEDED', 'REJECTED') AND started_at > $1`, restored) > 0
	})
	schedBack := time.Since(restored)
	if refusedCode == running {
		refusedCode = refusedRun.wait(time.Minute)
	}
	blackholeCode := blackholeRun.wait(2 * time.Minute)
	if blackholeCode == running {
		t.Errorf("the processing run started in the blackhole did not end within 2 minutes of the restore:\n%s", blackholeRun.output())
	}
	if refusedCode == 0 || refusedCode == 3 || refusedCode == running {
		t.Errorf("the processing run started while PostgreSQL refused connections: exit %d, want 1 (failed)\n%s", refusedCode, refusedRun.output())
	}
	waitFor(t, 3*time.Minute, "the scheduler to settle every request", func() bool { return pendingDue(t, db) == 0 })
	recovered := time.Since(restored)
	if sched.wait(0) != running || serve.wait(0) != running {
		t.Errorf("the scheduler or serve exited:\n%s\n%s", sched.output(), serve.output())
	}
	o := check(t, db, gw.sim, len(w.reqs))
	record(t, row{scenario: "4 PG unreachable " + outage.String(), runs: int(p.runs.Load()), faults: 2, requests: o.requests, lost: o.lost,
		twice: o.twice, outOfOrder: o.outOfOrder, recover: recovered,
		note: fmt.Sprintf("run started while refused: exit %d; while blackholed: exit %d; serve answered during the outage: %v, again %v after; scheduler's first good run %v after",
			refusedCode, blackholeCode, apiDuring, apiBack.Round(100*time.Millisecond), schedBack.Round(100*time.Millisecond))})
}
