package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// TestOverview: the overview shows what ops.Snapshot counts, what is paused and the
// jobs; an operator pauses and resumes from it, recorded under its name.
func TestOverview(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	later := time.Now().Add(48 * time.Hour)
	// Due by the console's clock, which stands still from newEnv on: the database's
	// default (a second before its now) may be after it on a loaded machine.
	due := e.clock.now().Add(-time.Minute)
	pgtest.Requests(t, e.db,
		pgtest.RequestOpts{Smartcard: "C1", ScheduledDate: &due}, // due
		pgtest.RequestOpts{Smartcard: "C1", ScheduledDate: &due}, // blocked behind it
		pgtest.RequestOpts{Smartcard: "C2", ScheduledDate: &later},
		pgtest.RequestOpts{Smartcard: "C3", State: "COMPLETED"},
		pgtest.RequestOpts{Smartcard: "C4", State: "REJECTED", ErrorCode: pgtest.Ptr("E_NOT_PAIRED"), ExecutedDate: pgtest.Ptr(time.Now())},
	)
	// The console's clock to now, after the rows: they are due a second before the
	// database's now, which on a loaded machine may be after newEnv's clock was set.
	e.clock.add(time.Since(e.clock.now()))
	b := e.as(t, "operator")
	p := b.get("/console/")
	if p.status != http.StatusOK {
		t.Fatalf("overview: %d\n%s", p.status, p.body)
	}
	cell := func(key, val string) string {
		ns := find(p.doc, withAttr(key, val))
		if len(ns) != 1 {
			t.Fatalf("%d cells %s=%s", len(ns), key, val)
		}
		return text(ns[0])
	}
	for k, want := range map[string]string{"PENDING": "3", "COMPLETED": "1", "REJECTED": "1"} {
		if got := cell("data-state", k); got != want {
			t.Errorf("state %s: %s, want %s", k, got, want)
		}
	}
	for k, want := range map[string]string{"due": "1", "blocked": "1", "scheduled": "1", "held": "0", "in_flight": "0", "retry_wait": "0"} {
		if got := cell("data-wait", k); got != want {
			t.Errorf("wait %s: %s, want %s", k, got, want)
		}
	}
	if got := text(p.one(t, "errors")); !strings.Contains(got, "E_NOT_PAIRED 1") {
		t.Errorf("errors of the day: %s", got)
	}
	if got := text(p.one(t, "oldest")); !strings.HasPrefix(got, "The oldest due request Request ") {
		t.Errorf("oldest due: %s", got)
	}
	for _, j := range jobNames {
		if len(find(p.doc, withAttr("data-job", j))) != 1 {
			t.Errorf("job %s not listed", j)
		}
	}

	p = b.post("/console/pause", url.Values{"csrf": {p.csrf(t)}, "target": {"queue"}, "reason": {"gateway upgrade"}})
	if p.status != http.StatusOK || text(p.one(t, "summary")) != "1 changed." {
		t.Fatalf("pause: %d\n%s", p.status, p.body)
	}
	pz, err := ops.PauseOf(ctx, e.db, "queue")
	if err != nil || pz == nil || pz.PausedBy != "operator" || pz.Reason != "gateway upgrade" {
		t.Fatalf("the queue's pause: %+v, %v", pz, err)
	}
	p = b.get("/console/")
	row := find(p.doc, withAttr("data-paused", "queue"))
	if len(row) != 1 || !strings.Contains(text(row[0]), "operator gateway upgrade") {
		t.Fatalf("paused row: %s", p.body)
	}
	if p = b.post("/console/pause", url.Values{"csrf": {p.csrf(t)}, "target": {"nojob"}}); p.status != http.StatusBadRequest ||
		!strings.Contains(text(p.one(t, "error")), `target "nojob": give one of queue, import, process, housekeeping`) {
		t.Errorf("pause of no such target: %d\n%s", p.status, p.body)
	}
	p = b.post("/console/resume", url.Values{"csrf": {p.csrf(t)}, "target": {"queue"}})
	if p.status != http.StatusOK || text(p.one(t, "summary")) != "1 changed." {
		t.Fatalf("resume: %d\n%s", p.status, p.body)
	}
	if pz, _ := ops.PauseOf(ctx, e.db, "queue"); pz != nil {
		t.Errorf("still paused: %+v", pz)
	}
	audit, err := ops.ListAudit(ctx, e.db, ops.AuditFilter{Operator: "operator"})
	if err != nil || len(audit) != 2 || audit[0].Action != ops.ActionResume || audit[1].Action != ops.ActionPause {
		t.Errorf("audit: %+v, %v", audit, err)
	}
}

// TestRequestsPage: the filters of requests list, pages by number, the count; a bad
// filter is named.
func TestRequestsPage(t *testing.T) {
	e := newEnv(t, false)
	var opts []pgtest.RequestOpts
	for i := 0; i < 60; i++ {
		opts = append(opts, pgtest.RequestOpts{Smartcard: fmt.Sprintf("C%d", i), Type: "RESET_PIN"})
	}
	opts = append(opts, pgtest.RequestOpts{Smartcard: "X", Type: "RESET_SMARTCARD", State: "REJECTED", ErrorCode: pgtest.Ptr("E_BUSY")})
	nums := pgtest.Requests(t, e.db, opts...)
	b := e.as(t, "viewer")
	rows := func(p page) []string {
		var out []string
		for _, n := range find(p.doc, hasAttr("data-number")) {
			out = append(out, attr(n, "data-number"))
		}
		return out
	}
	p := b.get("/console/requests?state=PENDING")
	if p.status != http.StatusOK || text(p.one(t, "count")) != "60 requests match." || len(rows(p)) != 50 {
		t.Fatalf("page 1: %d, %q, %d rows", p.status, text(p.one(t, "count")), len(rows(p)))
	}
	if rows(p)[0] != fmt.Sprint(nums[0]) {
		t.Errorf("page 1 starts at %s, want %d", rows(p)[0], nums[0])
	}
	next := attr(p.one(t, "next"), "href")
	if want := fmt.Sprintf("/console/requests?after=%d&state=PENDING", nums[49]); next != want {
		t.Fatalf("next page: %s, want %s", next, want)
	}
	p = b.get(next)
	if got := rows(p); len(got) != 10 || got[0] != fmt.Sprint(nums[50]) || len(find(p.doc, withAttr("id", "next"))) != 0 {
		t.Errorf("page 2: %v", got)
	}
	if text(p.one(t, "count")) != "60 requests match." {
		t.Errorf("page 2's count: %s", text(p.one(t, "count")))
	}
	for _, c := range []struct {
		query string
		want  []int64
	}{
		{"type=RESET_SMARTCARD", nums[60:]},
		{"error_code=E_BUSY&state=REJECTED", nums[60:]},
		{"smartcard=C7", nums[7:8]},
		{"state=COMPLETED", nil},
	} {
		p := b.get("/console/requests?" + c.query)
		got := rows(p)
		if p.status != http.StatusOK || fmt.Sprint(got) != fmt.Sprint(strs(c.want)) {
			t.Errorf("%s: %d %v, want %v", c.query, p.status, got, c.want)
		}
	}
	p = b.get("/console/requests?state=DONE&created_since=soon")
	if p.status != http.StatusBadRequest {
		t.Fatalf("bad filters: %d", p.status)
	}
	if got := text(p.one(t, "errors")); !strings.Contains(got, `state: "DONE" is not one of PENDING, COMPLETED, REJECTED`) ||
		!strings.Contains(got, `created_since: "soon" is not a time`) {
		t.Errorf("bad filters: %s", got)
	}
}

func strs(ns []int64) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, fmt.Sprint(n))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// TestRequestPage: every field, the PIN masked in the field and in the command, what
// it waits for, its sends.
func TestRequestPage(t *testing.T) {
	e := newEnv(t, false)
	cmd := `{"command_id":"x","type":"SET_PIN","smartcard_ca_id":"1000000001","pin":"9731"}`
	due := e.clock.now().Add(-time.Minute) // see TestOverview
	n := pgtest.Request(t, e.db, pgtest.RequestOpts{Type: "SET_PIN", PIN: pgtest.Ptr("9731"), Request: &cmd, Attempts: 1, ScheduledDate: &due})
	if _, err := e.db.Exec(`INSERT INTO request_attempts (request_id, process_id, batch_id, command_id, sent_at, outcome, http_status, error_code)
		SELECT id, 7, 'b1', 'x', now(), '503', 503, 'HTTP_503' FROM provisioning_requests WHERE number = $1`, n); err != nil {
		t.Fatal(err)
	}
	b := e.as(t, "operator")
	p := b.get(fmt.Sprintf("/console/requests/%d", n))
	if p.status != http.StatusOK {
		t.Fatalf("%d\n%s", p.status, p.body)
	}
	if strings.Contains(p.body, "9731") {
		t.Errorf("the PIN is shown:\n%s", p.body)
	}
	field := func(name string) string { return text(find(p.doc, withAttr("data-field", name))[0]) }
	if field("pin") != ops.MaskedPIN || field("type") != "SET_PIN" || field("number") != fmt.Sprint(n) || field("state") != "PENDING" {
		t.Errorf("fields: pin %q type %q number %q state %q", field("pin"), field("type"), field("number"), field("state"))
	}
	if got := text(p.one(t, "command")); !strings.Contains(got, `"pin":"****"`) {
		t.Errorf("command: %s", got)
	}
	if got := text(p.one(t, "waits")); got != "Waits for: nothing: the next processing run claims it" {
		t.Errorf("waits: %s", got)
	}
	if got := text(p.one(t, "attempts")); !strings.Contains(got, "503 503 HTTP_503") {
		t.Errorf("attempts: %s", got)
	}
	var levers []string
	for _, f := range find(p.doc, hasAttr("data-lever")) {
		levers = append(levers, attr(f, "data-lever"))
	}
	if fmt.Sprint(levers) != "[hold release cancel reschedule priority]" {
		t.Errorf("levers of a PENDING request: %v", levers)
	}
	if p := b.get("/console/requests/999999"); p.status != http.StatusNotFound {
		t.Errorf("no such request: %d", p.status)
	}
	// The Requests page masks too.
	if p := b.get("/console/requests"); strings.Contains(p.body, "9731") {
		t.Errorf("the PIN is shown on the Requests page")
	}
}

// TestLevers: each lever from the Request page's forms does what ops does, recorded
// under the signed-in operator's name; the result page says what was skipped and why.
func TestLevers(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	at := time.Date(2031, 1, 2, 3, 4, 0, 0, time.UTC)
	cases := []struct {
		lever   string
		opts    pgtest.RequestOpts
		held    bool // held before
		form    url.Values
		status  int
		summary string // the result's summary, or its error
		check   func(r ops.Request) bool
	}{
		{"hold", pgtest.RequestOpts{}, false, url.Values{"reason": {"card stolen"}}, 200, "1 changed.",
			func(r ops.Request) bool {
				return r.HeldAt != nil && r.HeldBy == "operator" && r.HeldReason == "card stolen"
			}},
		{"hold", pgtest.RequestOpts{}, true, nil, 200, "0 changed.", func(r ops.Request) bool { return r.HeldAt != nil }},
		{"release", pgtest.RequestOpts{}, true, nil, 200, "1 changed.", func(r ops.Request) bool { return r.HeldAt == nil }},
		{"cancel", pgtest.RequestOpts{}, false, url.Values{"reason": {"customer left"}}, 200, "1 changed.",
			func(r ops.Request) bool {
				return r.State == "REJECTED" && r.ErrorDescription == "cancelled by operator: customer left"
			}},
		{"cancel", pgtest.RequestOpts{}, false, nil, 409, "cancel needs a reason: it becomes the request's error description",
			func(r ops.Request) bool { return r.State == "PENDING" }},
		{"reschedule", pgtest.RequestOpts{}, false, url.Values{"at": {"2031-01-02T03:04"}}, 200, "1 changed.",
			func(r ops.Request) bool { return r.ScheduledDate.Equal(at) }},
		{"priority", pgtest.RequestOpts{}, false, url.Values{"priority": {"EXPRESS"}}, 200, "1 changed.",
			func(r ops.Request) bool { return r.Priority == "EXPRESS" }},
		{"hold", pgtest.RequestOpts{State: "COMPLETED"}, false, nil, 409, "is COMPLETED: only PENDING requests",
			func(r ops.Request) bool { return r.HeldAt == nil }},
		{"retry", pgtest.RequestOpts{State: "REJECTED", ErrorCode: pgtest.Ptr("E_BUSY")}, false, nil, 200, "1 changed.",
			func(r ops.Request) bool { return r.State == "PENDING" && r.Retries == 1 }},
		{"retry", pgtest.RequestOpts{}, false, nil, 409, "is not REJECTED", func(r ops.Request) bool { return r.Retries == 0 }},
		{"explode", pgtest.RequestOpts{}, false, nil, 409, `no such lever "explode"`, func(r ops.Request) bool { return r.HeldAt == nil }},
	}
	b := e.as(t, "operator")
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d %s", i, c.lever), func(t *testing.T) {
			c.opts.Smartcard = fmt.Sprintf("L%d", i)
			n := pgtest.Request(t, e.db, c.opts)
			if c.held {
				if _, err := ops.Pull(ctx, e.db, ops.Filter{Number: n}, ops.Lever{Action: ops.ActionHold}, ops.LeverOptions{Expect: -1, Actor: ops.Actor{Operator: "setup"}}); err != nil {
					t.Fatal(err)
				}
			}
			pg := b.get(fmt.Sprintf("/console/requests/%d", n))
			form := url.Values{"csrf": {pg.csrf(t)}}
			for k, v := range c.form {
				form[k] = v
			}
			p := b.post(fmt.Sprintf("/console/requests/%d/%s", n, c.lever), form)
			got := ""
			if ns := find(p.doc, withAttr("id", "summary")); len(ns) == 1 {
				got = text(ns[0])
			} else {
				got = text(p.one(t, "error"))
			}
			if p.status != c.status || !strings.Contains(got, c.summary) {
				t.Fatalf("%d %q, want %d %q\n%s", p.status, got, c.status, c.summary, p.body)
			}
			if c.summary == "0 changed." {
				if s := text(find(p.doc, withAttr("data-number", fmt.Sprint(n)))[0]); !strings.Contains(s, "skipped: already held") {
					t.Errorf("skipped row: %s", s)
				}
			}
			r, err := ops.Get(ctx, e.db, n)
			if err != nil || !c.check(r) {
				t.Errorf("request after %s: %+v, %v", c.lever, r, err)
			}
			if c.status == 200 && strings.HasPrefix(c.summary, "1") {
				audit, err := ops.ListAudit(ctx, e.db, ops.AuditFilter{Operator: "operator", Action: c.lever, Limit: 1})
				if err != nil || len(audit) != 1 || len(audit[0].Numbers) != 1 || audit[0].Numbers[0] != n ||
					audit[0].Command != fmt.Sprintf("console: %s request %d", c.lever, n) {
					t.Errorf("audit: %+v, %v", audit, err)
				}
			}
		})
	}
}
