package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/metrics"
	"github.com/provisioner/provisioner/ops"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

// scrape GETs the handler over HTTP and parses what it serves.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: HTTP %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// value is the value of the sample of family name with exactly these labels; ok
// false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		for _, l := range m.Label {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func must(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := value(fams, name, labels)
	if !ok {
		t.Fatalf("no %s%v in the scrape", name, labels)
	}
	return v
}

var states, priorities = []string{"PENDING", "COMPLETED", "REJECTED"}, []string{"REGULAR", "EXPRESS"}

// checkQueue compares the scraped queue depth with counts made in SQL.
func checkQueue(t *testing.T, db *store.DB, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for _, s := range states {
		for _, p := range priorities {
			var n int
			if err := db.Get(&n, "SELECT count(*) FROM provisioning_requests WHERE life_cycle_state = $1 AND priority = $2", s, p); err != nil {
				t.Fatal(err)
			}
			if got := must(t, fams, "provisioner_requests", map[string]string{"state": s, "priority": p}); got != float64(n) {
				t.Errorf("provisioner_requests{state=%s,priority=%s} = %v, the database has %d", s, p, got, n)
			}
		}
	}
}

// TestQueueDepth: the queue depth served over HTTP is the database's, for every
// state and priority, and the oldest pending age is the one placed.
func TestQueueDepth(t *testing.T) {
	db, _ := pgtest.New(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	// 8 PENDING REGULAR (the oldest due since 11:00; one due only tomorrow, far older
	// by creation; one behind it, due since 07:00 but blocked), 4 PENDING EXPRESS
	// (one behind C2's REGULAR, in flight), 5 COMPLETED REGULAR, 2 COMPLETED EXPRESS,
	// 4 REJECTED REGULAR, none REJECTED EXPRESS.
	var reqs []pgtest.RequestOpts
	for _, g := range []struct {
		state, priority string
		n               int
	}{{"PENDING", "REGULAR", 6}, {"PENDING", "EXPRESS", 3}, {"COMPLETED", "REGULAR", 5}, {"COMPLETED", "EXPRESS", 2}, {"REJECTED", "REGULAR", 4}} {
		for i := 1; i <= g.n; i++ {
			card := fmt.Sprintf("C%d", i)
			if g.state == "PENDING" && g.priority == "EXPRESS" {
				card = fmt.Sprintf("X%d", i) // a card of their own: heads
			}
			reqs = append(reqs, pgtest.RequestOpts{State: g.state, Priority: g.priority, Smartcard: card,
				ScheduledDate: pgtest.Ptr(now.Add(-time.Duration(i) * time.Minute)), CreatedAt: pgtest.Ptr(now.Add(-2 * time.Hour))})
		}
	}
	reqs = append(reqs, pgtest.RequestOpts{Smartcard: "LATER", ScheduledDate: pgtest.Ptr(now.Add(24 * time.Hour)), CreatedAt: pgtest.Ptr(now.Add(-30 * 24 * time.Hour))},
		pgtest.RequestOpts{Smartcard: "LATER", ScheduledDate: pgtest.Ptr(now.Add(-5 * time.Hour)), CreatedAt: pgtest.Ptr(now.Add(-5 * time.Hour))},
		pgtest.RequestOpts{Smartcard: "C2", Priority: "EXPRESS", ScheduledDate: pgtest.Ptr(now.Add(-time.Minute)), CreatedAt: pgtest.Ptr(now.Add(-time.Minute))})
	pgtest.Requests(t, db, reqs...)
	for _, q := range []string{`
	    UPDATE provisioning_requests SET scheduled_date = $1::timestamptz - interval '1 hour', created_at = $1::timestamptz - interval '1 hour'
	    WHERE id = (SELECT min(id) FROM provisioning_requests WHERE life_cycle_state = 'PENDING')`, `
	    UPDATE provisioning_requests SET claimed_by = 1, lease_expires_at = $1::timestamptz + interval '5 minutes' WHERE smartcard_ca_id = 'C2'
	        AND life_cycle_state = 'PENDING' AND priority = 'REGULAR'`, `
	    UPDATE provisioning_requests SET next_attempt_at = $1::timestamptz + interval '1 minute' WHERE smartcard_ca_id = 'C3'
	        AND life_cycle_state = 'PENDING' AND priority = 'REGULAR'`, `
	    UPDATE provisioning_requests SET claimed_by = 1, lease_expires_at = $1::timestamptz - interval '1 minute' WHERE smartcard_ca_id = 'X1'
	        AND life_cycle_state = 'PENDING' AND priority = 'EXPRESS'`} {
		if _, err := db.Exec(q, now); err != nil {
			t.Fatal(err)
		}
	}
	m := metrics.New(db, metrics.Options{Now: func() time.Time { return now }, MinInterval: -1})
	cached := metrics.New(db, metrics.Options{Now: func() time.Time { return now }, MinInterval: time.Hour})
	scrape(t, cached.Handler())
	fams := scrape(t, m.Handler())
	checkQueue(t, db, fams)
	if got := must(t, fams, "provisioner_requests", map[string]string{"state": "PENDING", "priority": "REGULAR"}); got != 8 {
		t.Errorf("PENDING REGULAR: %v, want 8", got)
	}
	if got := must(t, fams, "provisioner_requests", map[string]string{"state": "REJECTED", "priority": "EXPRESS"}); got != 0 {
		t.Errorf("REJECTED EXPRESS: %v, want 0 (served, not left out)", got)
	}
	if got := must(t, fams, "provisioner_oldest_pending_seconds", nil); got != 3600 {
		t.Errorf("oldest pending: %vs, want 3600", got)
	}
	// REGULAR: C2 in flight, C3 backing off, LATER scheduled and one blocked behind it,
	// 4 due; EXPRESS: 3 due, X1's expired lease included, and one blocked behind C2's
	// REGULAR request, in flight (issue 11: blocked ones were counted due).
	for _, w := range []struct {
		priority, wait string
		want           float64
	}{{"REGULAR", "due", 4}, {"REGULAR", "blocked", 1}, {"REGULAR", "in_flight", 1}, {"REGULAR", "retry_wait", 1}, {"REGULAR", "scheduled", 1},
		{"EXPRESS", "due", 3}, {"EXPRESS", "blocked", 1}, {"EXPRESS", "in_flight", 0}, {"EXPRESS", "retry_wait", 0}, {"EXPRESS", "scheduled", 0}} {
		if got := must(t, fams, "provisioner_pending_requests", map[string]string{"priority": w.priority, "wait": w.wait}); got != w.want {
			t.Errorf("pending %s %s: %v, want %v", w.priority, w.wait, got, w.want)
		}
	}
	for _, w := range []struct {
		priority, by string
		want         float64
	}{{"REGULAR", "scheduled", 1}, {"REGULAR", "due", 0}, {"REGULAR", "in_flight", 0}, {"REGULAR", "retry_wait", 0},
		{"EXPRESS", "in_flight", 1}, {"EXPRESS", "due", 0}, {"EXPRESS", "retry_wait", 0}, {"EXPRESS", "scheduled", 0}} {
		if got := must(t, fams, "provisioner_blocked_requests", map[string]string{"priority": w.priority, "blocked_by": w.by}); got != w.want {
			t.Errorf("blocked %s by %s: %v, want %v", w.priority, w.by, got, w.want)
		}
	}
	if got := must(t, fams, "provisioner_queue_up", nil); got != 1 {
		t.Errorf("queue up: %v", got)
	}

	// The queue moves: the next scrape reads it again.
	if _, err := db.Exec("UPDATE provisioning_requests SET life_cycle_state = 'COMPLETED' WHERE life_cycle_state = 'PENDING' AND priority = 'EXPRESS'"); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, m.Handler())
	checkQueue(t, db, fams)
	if got := must(t, fams, "provisioner_requests", map[string]string{"state": "COMPLETED", "priority": "EXPRESS"}); got != 6 {
		t.Errorf("COMPLETED EXPRESS after the update: %v, want 6", got)
	}
	// Within MinInterval a scrape gets the last read's figures.
	if got := must(t, scrape(t, cached.Handler()), "provisioner_requests", map[string]string{"state": "COMPLETED", "priority": "EXPRESS"}); got != 2 {
		t.Errorf("COMPLETED EXPRESS within the interval: %v, want 2 (the figures read before the update)", got)
	}
}

// TestQueueDown: a database that fails the query gives provisioner_queue_up 0 and the
// rest of the metrics, not a failed scrape.
func TestQueueDown(t *testing.T) {
	db, _ := pgtest.New(t)
	m := metrics.New(db, metrics.Options{MinInterval: -1})
	m.JobFinished("import", "SUCCEEDED", time.Second)
	db.Close()
	fams := scrape(t, m.Handler())
	if got := must(t, fams, "provisioner_queue_up", nil); got != 0 {
		t.Errorf("queue up with the database closed: %v", got)
	}
	if _, ok := fams["provisioner_requests"]; ok {
		t.Errorf("queue depth served without a database")
	}
	if got := must(t, fams, "provisioner_job_runs_total", map[string]string{"job": "import", "outcome": "SUCCEEDED"}); got != 1 {
		t.Errorf("job runs: %v", got)
	}
}

// TestJobFinished: runs and durations by job and outcome.
func TestJobFinished(t *testing.T) {
	m := metrics.New(nil, metrics.Options{})
	m.JobFinished("process", "SUCCEEDED", 2*time.Second)
	m.JobFinished("process", "SUCCEEDED", 40*time.Second)
	m.JobFinished("process", "FAILED", time.Second)
	fams := scrape(t, m.Handler())
	for _, c := range []struct {
		outcome string
		want    float64
	}{{"SUCCEEDED", 2}, {"FAILED", 1}} {
		l := map[string]string{"job": "process", "outcome": c.outcome}
		if got := must(t, fams, "provisioner_job_runs_total", l); got != c.want {
			t.Errorf("runs %s: %v, want %v", c.outcome, got, c.want)
		}
		if got := must(t, fams, "provisioner_job_duration_seconds", l); got != c.want {
			t.Errorf("duration samples %s: %v, want %v", c.outcome, got, c.want)
		}
	}
	h := fams["provisioner_job_duration_seconds"].Metric
	for _, mm := range h {
		if mm.Label[1].GetValue() == "SUCCEEDED" && mm.Histogram.GetSampleSum() != 42 {
			t.Errorf("duration sum: %v, want 42", mm.Histogram.GetSampleSum())
		}
	}
	if _, ok := fams["provisioner_queue_up"]; ok {
		t.Error("queue metrics without a database")
	}
}

// TestDispatcherMetrics: after a processing run against the simulator, the batch and
// result counters say what the run did, and the queue depth what the database holds.
func TestDispatcherMetrics(t *testing.T) {
	db, _ := pgtest.New(t)
	known := simulator.Known{Smartcards: []string{"1000000001", "1000000002", "1000000003"}, Products: []string{"P-1001"}}
	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1}, known)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	// 5 complete, 1 is rejected E_NOT_PAIRED, 1 E_UNKNOWN_SMARTCARD; 3 batches of at most 3.
	ago := pgtest.Ptr(time.Now().Add(-time.Minute))
	pgtest.Requests(t, db,
		pgtest.RequestOpts{Type: "ADD_PRODUCTS", Smartcard: "1000000001", Services: []string{"P-1001"}, ScheduledDate: ago},
		pgtest.RequestOpts{Type: "RESET_PIN", Smartcard: "1000000002", ScheduledDate: ago},
		pgtest.RequestOpts{Type: "RESET_PIN", Priority: "EXPRESS", Smartcard: "1000000003", ScheduledDate: ago},
		pgtest.RequestOpts{Type: "RESET_SMARTCARD", Smartcard: "1000000001", ScheduledDate: ago},
		pgtest.RequestOpts{Type: "RESET_SMARTCARD", Smartcard: "1000000002", ScheduledDate: ago},
		pgtest.RequestOpts{Type: "UNPAIR", Smartcard: "1000000003", ScheduledDate: ago},
		pgtest.RequestOpts{Type: "RESET_PIN", Smartcard: "1000000099", ScheduledDate: ago},
		pgtest.RequestOpts{Type: "RESET_PIN", Smartcard: "1000000001", ScheduledDate: pgtest.Ptr(time.Now().Add(24 * time.Hour))})
	m := metrics.New(db, metrics.Options{MinInterval: -1})
	client, err := dispatcher.NewClient(dispatcher.GatewayConfig{URL: srv.URL, Token: "tok", DestinationID: "CRM01", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	d, err := dispatcher.New(db, client, log, dispatcher.Options{BatchSize: 3, Concurrency: 1, Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Completed != 5 || sum.Rejected != 2 {
		t.Fatalf("run: %+v", sum)
	}
	fams := scrape(t, m.Handler())
	answered := map[string]string{"status": "200", "outcome": "answered"}
	if got := must(t, fams, "provisioner_gateway_batches_total", answered); got != float64(sum.Batches) || sum.Batches < 3 {
		t.Errorf("batches: %v, the run sent %d", got, sum.Batches)
	}
	if got := must(t, fams, "provisioner_gateway_batch_duration_seconds", answered); got != float64(sum.Batches) {
		t.Errorf("latency samples: %v, want %d", got, sum.Batches)
	}
	if got := must(t, fams, "provisioner_gateway_commands_total", answered); got != 7 {
		t.Errorf("commands: %v, want 7", got)
	}
	for _, c := range []struct {
		state, code string
		want        float64
	}{{"COMPLETED", "", 5}, {"REJECTED", "E_NOT_PAIRED", 1}, {"REJECTED", "E_UNKNOWN_SMARTCARD", 1}} {
		if got := must(t, fams, "provisioner_request_results_total", map[string]string{"state": c.state, "error_code": c.code}); got != c.want {
			t.Errorf("results %s %s: %v, want %v", c.state, c.code, got, c.want)
		}
	}
	checkQueue(t, db, fams)
	if got := must(t, fams, "provisioner_requests", map[string]string{"state": "PENDING", "priority": "REGULAR"}); got != 1 {
		t.Errorf("pending after the run: %v, want 1 (the one due tomorrow)", got)
	}
	if got := must(t, fams, "provisioner_oldest_pending_seconds", nil); got != 0 {
		t.Errorf("oldest pending with none due: %v", got)
	}
}

// TestServe: /metrics on a listener until the context ends; other paths are 404.
func TestServe(t *testing.T) {
	m := metrics.New(nil, metrics.Options{})
	m.JobFinished("housekeeping", "SUCCEEDED", time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `provisioner_job_runs_total{job="housekeeping",outcome="SUCCEEDED"} 1`) {
		t.Errorf("GET /metrics: %d\n%s", resp.StatusCode, body)
	}
	if resp, err := http.Get(base + "/other"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /other: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := http.Get(base + "/metrics"); err == nil {
		t.Error("still serving after the context ended")
	}
}

// TestHeldAndPaused: held requests are their own wait, not due; a pause is a series
// with its target, operator and reason, its value its start; none when resumed.
func TestHeldAndPaused(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	pgtest.Requests(t, db, pgtest.RequestOpts{Smartcard: "C1"}, pgtest.RequestOpts{Smartcard: "C2"})
	if _, err := ops.Pull(ctx, db, ops.Filter{Smartcard: "C1"}, ops.Lever{Action: ops.ActionHold}, ops.LeverOptions{Expect: 1}); err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if _, err := ops.SetPause(ctx, db, "queue", "upgrade", ops.Actor{Operator: "alice"}, since); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(db, metrics.Options{MinInterval: -1})
	fams := scrape(t, m.Handler())
	for wait, want := range map[string]float64{"held": 1, "due": 1} {
		if got := must(t, fams, "provisioner_pending_requests", map[string]string{"priority": "REGULAR", "wait": wait}); got != want {
			t.Errorf("pending %s: %v, want %v", wait, got, want)
		}
	}
	if got := must(t, fams, "provisioner_paused_since_seconds", map[string]string{"target": "queue", "by": "alice", "reason": "upgrade"}); got != float64(since.Unix()) {
		t.Errorf("paused since %v, want %v", got, since.Unix())
	}
	if _, err := ops.Resume(ctx, db, "queue", ops.Actor{Operator: "alice"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok := scrape(t, m.Handler())["provisioner_paused_since_seconds"]; ok {
		t.Errorf("a pause served after the resume")
	}
}

// TestSeriesFromStart (issue 11): every configured job has its run counters and its
// last-success timestamp from the start, 0 before any run; the timestamp is the run
// ledger's (any instance's run); the inbox is counted at scrape time by the
// import's rules; build_info names the build.
func TestSeriesFromStart(t *testing.T) {
	db, _ := pgtest.New(t)
	inbox := t.TempDir()
	for _, sub := range []string{"processing", "failed"} {
		os.MkdirAll(filepath.Join(inbox, sub), 0o700)
	}
	now := time.Now()
	m := metrics.New(db, metrics.Options{MinInterval: -1, Now: func() time.Time { return now }, Jobs: []string{"import", "process"},
		Inbox: inbox, CountInbox: func(dir string) (ops.InboxFiles, error) {
			b, err := importer.InboxBacklog(dir)
			return ops.InboxFiles(b), err
		}, Build: metrics.Build{Version: "v1.2.3", Revision: "abc123"}})

	fams := scrape(t, m.Handler())
	for _, job := range []string{"import", "process"} {
		for _, outcome := range metrics.JobOutcomes {
			if got := must(t, fams, "provisioner_job_runs_total", map[string]string{"job": job, "outcome": outcome}); got != 0 {
				t.Errorf("%s %s runs before any: %v", job, outcome, got)
			}
		}
		if got := must(t, fams, "provisioner_job_last_success_timestamp_seconds", map[string]string{"job": job}); got != 0 {
			t.Errorf("%s last success before any run: %v, want 0", job, got)
		}
	}
	if _, ok := value(fams, "provisioner_job_runs_total", map[string]string{"job": "housekeeping", "outcome": "SUCCEEDED"}); ok {
		t.Errorf("a job not configured has series")
	}
	if got := must(t, fams, "provisioner_build_info", map[string]string{"version": "v1.2.3", "revision": "abc123", "goversion": runtime.Version()}); got != 1 {
		t.Errorf("build_info %v", got)
	}
	for state, want := range map[string]float64{"waiting": 0, "processing": 0, "failed": 0} {
		if got := must(t, fams, "provisioner_inbox_files", map[string]string{"state": state}); got != want {
			t.Errorf("inbox %s: %v, want %v", state, got, want)
		}
	}

	// A run of import that succeeded (another instance's: the ledger is shared), a
	// later one that failed; process only failed. A file waits, one failed.
	finished := time.Date(2026, 11, 30, 11, 0, 2, 500_000_000, time.UTC)
	db.MustExec(`INSERT INTO job_runs (job, tick, trigger, instance, state, started_at, finished_at) VALUES
	    ('import', $1::timestamptz - interval '2 seconds', 'SCHEDULE', 'other:1', 'SUCCEEDED', $1::timestamptz - interval '2 seconds', $1),
	    ('import', $1::timestamptz + interval '1 hour', 'SCHEDULE', 'other:1', 'FAILED', $1::timestamptz + interval '1 hour', $1::timestamptz + interval '1 hour'),
	    ('process', $1, 'SCHEDULE', 'other:1', 'FAILED', $1, $1)`, finished)
	os.WriteFile(filepath.Join(inbox, "a.csv"), []byte("x\n"), 0o600)
	os.WriteFile(filepath.Join(inbox, "failed", "b.20261130T100000.000000Z.csv"), []byte("x\n"), 0o600)
	fams = scrape(t, m.Handler())
	if got := must(t, fams, "provisioner_job_last_success_timestamp_seconds", map[string]string{"job": "import"}); got != float64(finished.UnixNano())/1e9 {
		t.Errorf("import last success %v, want %v (%s)", got, float64(finished.UnixMilli())/1000, finished)
	}
	if got := must(t, fams, "provisioner_job_last_success_timestamp_seconds", map[string]string{"job": "process"}); got != 0 {
		t.Errorf("process last success %v, want 0: it never succeeded", got)
	}
	for state, want := range map[string]float64{"waiting": 1, "processing": 0, "failed": 1} {
		if got := must(t, fams, "provisioner_inbox_files", map[string]string{"state": state}); got != want {
			t.Errorf("inbox %s: %v, want %v", state, got, want)
		}
	}
	if got := must(t, fams, "provisioner_inbox_up", nil); got != 1 {
		t.Errorf("inbox up %v", got)
	}
	os.RemoveAll(inbox)
	if got := must(t, scrape(t, m.Handler()), "provisioner_inbox_up", nil); got != 0 {
		t.Errorf("inbox up with the inbox gone: %v", got)
	}
}
