package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"golang.org/x/net/html"

	"github.com/provisioner/provisioner/api"
	"github.com/provisioner/provisioner/console"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// TestRunsPage: the processing runs and the run ledger, paged; pause and resume
// of a job from it, recorded under the operator's name.
func TestRunsPage(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	e.db.MustExec(`INSERT INTO processes (name, host, pid, state, claimed, completed, rejected, batches, started_at, finished_at)
		SELECT 'PROVISIONING_REQUEST_PROCESSING_RUN', 'h1', g, 'SUCCEEDED', 10, 8, 2, 3, now() - interval '1 hour', now() - interval '1 hour' + interval '90 seconds'
		FROM generate_series(1, 55) g`)
	e.db.MustExec(`INSERT INTO job_runs (job, tick, trigger, instance, state, started_at, finished_at, counts, error) VALUES
		('import', now() - interval '2 hours', 'SCHEDULE', 'h1:1', 'SUCCEEDED', now() - interval '2 hours', now() - interval '2 hours' + interval '3 seconds', '{"files": 2}', NULL),
		('process', now() - interval '1 hour', 'MANUAL', 'h1:2', 'FAILED', now() - interval '1 hour', now() - interval '1 hour', '{}', 'gateway unreachable')`)
	b := e.as(t, "operator")
	p := b.get("/console/runs")
	if p.status != http.StatusOK {
		t.Fatalf("runs: %d\n%s", p.status, p.body)
	}
	runs := find(p.one(t, "processes"), hasAttr("data-run"))
	if len(runs) != 50 || !strings.Contains(text(runs[0]), "SUCCEEDED 10 8 2 0 3") || !strings.Contains(text(runs[0]), "1m30s") {
		t.Errorf("%d runs, first: %s", len(runs), text(runs[0]))
	}
	p2 := b.get(attr(p.one(t, "next-runs"), "href"))
	if got := len(find(p2.one(t, "processes"), hasAttr("data-run"))); got != 5 {
		t.Errorf("runs page 2: %d", got)
	}
	if got := text(p.one(t, "ledger")); !strings.Contains(got, "process MANUAL") || !strings.Contains(got, "gateway unreachable") || !strings.Contains(got, `{"files": 2}`) {
		t.Errorf("ledger: %s", got)
	}
	if p := b.get("/console/runs?job=import"); len(find(p.one(t, "ledger"), hasAttr("data-job-run"))) != 1 {
		t.Errorf("ledger of import: %s", text(p.one(t, "ledger")))
	}
	if p := b.get("/console/runs?job=nojob"); p.status != http.StatusBadRequest {
		t.Errorf("no such job: %d", p.status)
	}
	form := url.Values{}
	for _, in := range find(find(p.doc, withAttr("data-pause", "import"))[0], inputNamedAny) {
		form.Set(attr(in, "name"), attr(in, "value"))
	}
	form.Set("reason", "disk full")
	p = b.post("/console/pause", form)
	if p.status != http.StatusOK || attr(p.one(t, "back"), "href") != "/console/runs" {
		t.Fatalf("pause from the runs page: %d\n%s", p.status, p.body)
	}
	if pz, _ := ops.PauseOf(ctx, e.db, "import"); pz == nil || pz.PausedBy != "operator" || pz.Reason != "disk full" {
		t.Fatalf("pause: %+v", pz)
	}
	p = b.get("/console/runs")
	if got := text(find(p.doc, withAttr("data-target", "import"))[0]); !strings.Contains(got, "paused by operator") {
		t.Errorf("paused row: %s", got)
	}
	form = url.Values{}
	for _, in := range find(find(p.doc, withAttr("data-resume", "import"))[0], inputNamedAny) {
		form.Set(attr(in, "name"), attr(in, "value"))
	}
	if p := b.post("/console/resume", form); p.status != http.StatusOK {
		t.Fatalf("resume: %d", p.status)
	}
	if pz, _ := ops.PauseOf(ctx, e.db, "import"); pz != nil {
		t.Errorf("still paused")
	}
	// A viewer sees, and is offered no form.
	if p := e.as(t, "viewer").get("/console/runs"); len(find(p.doc, hasAttr("data-pause"))) != 0 {
		t.Error("a viewer is offered pause")
	}
}

// TestAdminPages: operators and tokens, for an admin alone; each action recorded.
func TestAdminPages(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	for _, role := range []string{"viewer", "operator"} {
		b := e.as(t, role)
		if p := b.get("/console/operators"); p.status != http.StatusForbidden {
			t.Errorf("%s on the operators page: %d", role, p.status)
		}
		csrf := b.get("/console/").csrf(t)
		for _, path := range []string{"/console/operators", "/console/operators/viewer/disable", "/console/tokens", "/console/tokens/x/revoke"} {
			if p := b.post(path, url.Values{"csrf": {csrf}, "name": {"mallory"}, "role": {"admin"}}); p.status != http.StatusForbidden {
				t.Errorf("%s POST %s: %d", role, path, p.status)
			}
		}
	}
	if ops, _ := console.ListOperators(ctx, e.db); len(ops) != 3 {
		t.Fatalf("an operator was created by a refused action: %v", ops)
	}
	a := e.as(t, "admin")
	p := a.get("/console/operators")
	if p.status != http.StatusOK || len(find(p.one(t, "operators"), hasAttr("data-operator"))) != 3 {
		t.Fatalf("operators page: %d\n%s", p.status, p.body)
	}
	csrf := p.csrf(t)
	p = a.post("/console/operators", url.Values{"csrf": {csrf}, "name": {"dave"}, "role": {"operator"}})
	if p.status != http.StatusOK {
		t.Fatalf("create: %d\n%s", p.status, p.body)
	}
	pw := text(p.one(t, "secret"))
	if len(pw) != 20 || !strings.Contains(text(p.one(t, "note")), "shown this once") {
		t.Errorf("generated password %q", pw)
	}
	d := e.browser(t)
	if p := d.signIn("dave", pw); p.status != http.StatusSeeOther {
		t.Fatalf("dave signs in with the password shown: %d", p.status)
	}
	if p := a.post("/console/operators", url.Values{"csrf": {csrf}, "name": {"dave"}, "role": {"viewer"}}); p.status != http.StatusBadRequest ||
		!strings.Contains(text(p.one(t, "error")), "an operator has this name") {
		t.Errorf("taken name: %d", p.status)
	}
	if p := a.post("/console/operators", url.Values{"csrf": {csrf}, "name": {"eve"}, "role": {"root"}}); p.status != http.StatusBadRequest {
		t.Errorf("bad role: %d", p.status)
	}
	p = a.post("/console/operators/dave/password", url.Values{"csrf": {csrf}, "password": {"a-new-password"}})
	if p.status != http.StatusOK || strings.Contains(p.body, "a-new-password") {
		t.Errorf("set password: %d\n%s", p.status, p.body)
	}
	if p := d.get("/console/"); p.status != http.StatusSeeOther {
		t.Errorf("dave's session outlived the new password: %d", p.status)
	}
	if p := a.post("/console/operators/dave/disable", url.Values{"csrf": {csrf}}); p.status != http.StatusOK {
		t.Errorf("disable: %d", p.status)
	}
	if p := e.browser(t).signIn("dave", "a-new-password"); p.status != http.StatusUnauthorized {
		t.Errorf("a disabled operator signs in: %d", p.status)
	}
	if p := a.post("/console/operators/nobody/disable", url.Values{"csrf": {csrf}}); p.status != http.StatusBadRequest {
		t.Errorf("disable nobody: %d", p.status)
	}

	p = a.post("/console/tokens", url.Values{"csrf": {csrf}, "name": {"crm"}})
	if secret := text(p.one(t, "secret")); p.status != http.StatusOK || !strings.HasPrefix(secret, api.TokenPrefix) {
		t.Fatalf("token: %d %q", p.status, secret)
	}
	p = a.get("/console/operators")
	if got := text(find(p.doc, withAttr("data-token", "crm"))[0]); !strings.Contains(got, "crm live") {
		t.Errorf("token row: %s", got)
	}
	if p := a.post("/console/tokens/crm/revoke", url.Values{"csrf": {csrf}}); p.status != http.StatusOK {
		t.Errorf("revoke: %d", p.status)
	}
	if p := a.post("/console/tokens/crm/revoke", url.Values{"csrf": {csrf}}); p.status != http.StatusBadRequest {
		t.Errorf("revoke twice: %d", p.status)
	}
	if p := a.post("/console/tokens", url.Values{"name": {"crm2"}}); p.status != http.StatusForbidden {
		t.Errorf("token without csrf: %d", p.status)
	}
	audit, err := ops.ListAudit(ctx, e.db, ops.AuditFilter{Operator: "admin"})
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	if err != nil || strings.Join(actions, ",") != "tokens revoke,tokens create,operators disable,operators password,operators create" {
		t.Errorf("audit: %v, %v", actions, err)
	}
}

// TestAuditPage: filtered by operator, action and since; keyset pages.
func TestAuditPage(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour)
	for i := 0; i < 60; i++ {
		if err := ops.Audit(ctx, e.db, ops.Actor{Operator: "alice", Command: fmt.Sprintf("requests hold %d", i)}, ops.ActionHold, nil, []int64{int64(i + 1)}, base.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ops.Audit(ctx, e.db, ops.Actor{Operator: "bob"}, ops.ActionPause, map[string]any{"target": "queue"}, nil, base.Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	b := e.as(t, "viewer")
	p := b.get("/console/audit")
	entries := find(p.one(t, "entries"), hasAttr("data-entry"))
	if p.status != http.StatusOK || len(entries) != 50 || !strings.Contains(text(entries[0]), "requests hold 59") {
		t.Fatalf("page 1: %d, %d entries", p.status, len(entries))
	}
	p = b.get(attr(p.one(t, "next"), "href"))
	entries = find(p.one(t, "entries"), hasAttr("data-entry"))
	if len(entries) != 11 || !strings.Contains(text(entries[0]), "requests hold 9") || !strings.Contains(text(entries[10]), "bob pause") {
		t.Errorf("page 2: %d entries", len(entries))
	}
	for q, want := range map[string]int{"operator=bob": 1, "action=pause": 1, "operator=alice&action=hold": 50, "since=24h": 50, "since=24h&operator=bob": 0} {
		p := b.get("/console/audit?" + q)
		if got := len(find(p.one(t, "entries"), hasAttr("data-entry"))); got != want {
			t.Errorf("%s: %d entries, want %d", q, got, want)
		}
	}
	p = b.get("/console/audit?action=explode&since=soon")
	if p.status != http.StatusBadRequest || !strings.Contains(text(p.one(t, "errors")), `action: "explode"`) || !strings.Contains(text(p.one(t, "errors")), "since:") {
		t.Errorf("bad filters: %d\n%s", p.status, p.body)
	}
}

// TestOverviewAdditions: the chart of the requests settled per minute, drawn on
// the server; overdue jobs; the inbox backlog.
func TestOverviewAdditions(t *testing.T) {
	sched, err := cron.ParseStandard("*/5 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, false, func(o *console.Options) {
		o.Schedules = map[string]ops.Schedule{"import": {Spec: "*/5 * * * *", Cron: sched}}
	})
	now := time.Now()
	pgtest.Requests(t, e.db,
		pgtest.RequestOpts{Smartcard: "D1", State: "COMPLETED", ExecutedDate: pgtest.Ptr(now.Add(-time.Hour))},
		pgtest.RequestOpts{Smartcard: "D2", State: "COMPLETED", ExecutedDate: pgtest.Ptr(now.Add(-time.Hour))},
		pgtest.RequestOpts{Smartcard: "D3", State: "REJECTED", ErrorCode: pgtest.Ptr("E_BUSY"), ExecutedDate: pgtest.Ptr(now.Add(-2 * time.Hour))},
		pgtest.RequestOpts{Smartcard: "D4", State: "COMPLETED", ExecutedDate: pgtest.Ptr(now.Add(-48 * time.Hour))},
	)
	e.db.MustExec(`INSERT INTO job_runs (job, tick, trigger, instance, state, started_at, finished_at) VALUES
		('import', now() - interval '1 hour', 'SCHEDULE', 'h:1', 'SUCCEEDED', now() - interval '1 hour', now() - interval '1 hour')`)
	b := e.as(t, "viewer")
	p := b.get("/console/")
	if p.status != http.StatusOK {
		t.Fatalf("overview: %d\n%s", p.status, p.body)
	}
	if got := text(p.one(t, "chart-totals")); got != "2 completed, 1 rejected; the busiest minute: 2." {
		t.Errorf("chart totals: %q", got)
	}
	lines := find(p.one(t, "chart"), func(n *html.Node) bool { return n.Data == "polyline" })
	if len(lines) != 2 || len(strings.Fields(attr(lines[0], "points"))) != 24*60+1 && len(strings.Fields(attr(lines[0], "points"))) != 24*60 {
		t.Errorf("polylines: %d", len(lines))
	}
	if got := text(p.one(t, "overdue")); got != "1 job is overdue." || len(find(p.doc, withAttr("data-overdue", "import"))) != 1 {
		t.Errorf("overdue: %q", got)
	}
	if got := text(p.one(t, "inbox")); !strings.Contains(got, "0 waiting") {
		t.Errorf("inbox: %s", got)
	}
	if len(find(p.doc, withAttr("hx-trigger", "every 30s"))) != 1 {
		t.Error("no automatic refresh")
	}
}

// TestRequestsSort: newest first, by keyset too.
func TestRequestsSort(t *testing.T) {
	e := newEnv(t, false)
	var opts []pgtest.RequestOpts
	for i := 0; i < 60; i++ {
		opts = append(opts, pgtest.RequestOpts{Smartcard: fmt.Sprintf("S%d", i)})
	}
	nums := pgtest.Requests(t, e.db, opts...)
	b := e.as(t, "viewer")
	rows := func(p page) []string {
		var out []string
		for _, n := range find(p.doc, hasAttr("data-number")) {
			out = append(out, attr(n, "data-number"))
		}
		return out
	}
	p := b.get("/console/requests?sort=newest")
	got := rows(p)
	if p.status != http.StatusOK || len(got) != 50 || got[0] != fmt.Sprint(nums[59]) || got[49] != fmt.Sprint(nums[10]) {
		t.Fatalf("newest first: %d %v", p.status, got)
	}
	next := attr(p.one(t, "next"), "href")
	if want := fmt.Sprintf("/console/requests?before=%d&sort=newest", nums[10]); next != want {
		t.Errorf("next: %s, want %s", next, want)
	}
	got = rows(b.get(next))
	if len(got) != 10 || got[0] != fmt.Sprint(nums[9]) || got[9] != fmt.Sprint(nums[0]) {
		t.Errorf("page 2: %v", got)
	}
	if p := b.get("/console/requests?sort=sideways"); p.status != http.StatusBadRequest || !strings.Contains(text(p.one(t, "errors")), "sort:") {
		t.Errorf("bad sort: %d", p.status)
	}
}

// TestStaticAndCSP: htmx is served from the binary, the policy allows scripts from
// the console alone, and every new page needs a session.
func TestStaticAndCSP(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser(t)
	p := b.get("/console/static/htmx.min.js")
	if p.status != http.StatusOK || !strings.Contains(p.body, "htmx") {
		t.Errorf("htmx: %d", p.status)
	}
	if p := b.get("/console/static/htmx.LICENSE"); p.status != http.StatusOK || !strings.Contains(p.body, "BSD") {
		t.Errorf("htmx licence: %d", p.status)
	}
	csp := p.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP: %s", csp)
	}
	for _, path := range []string{"/console/files", "/console/files/1", "/console/files/1/rejects.csv", "/console/runs", "/console/audit", "/console/operators", "/console/bulk?state=PENDING&lever=hold"} {
		if p := b.get(path); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/console/login?next=") {
			t.Errorf("%s without a session: %d %s", path, p.status, p.header.Get("Location"))
		}
	}
	for _, path := range []string{"/console/bulk", "/console/upload/confirm", "/console/operators", "/console/operators/viewer/disable", "/console/tokens", "/console/tokens/x/revoke"} {
		if p := b.post(path, url.Values{"csrf": {"x"}}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login" {
			t.Errorf("POST %s without a session: %d", path, p.status)
		}
	}
	// A signed-in page loads htmx from the console, no inline script.
	v := e.as(t, "viewer")
	p = v.get("/console/")
	scripts := find(p.doc, func(n *html.Node) bool { return n.Data == "script" })
	if len(scripts) != 1 || attr(scripts[0], "src") != "/console/static/htmx.min.js" || scripts[0].FirstChild != nil {
		t.Errorf("scripts: %d", len(scripts))
	}
}

// TestRefreshKeepsNoSession: the overview's automatic refresh (htmx) does not keep
// an idle session alive; a page the operator opens does.
func TestRefreshKeepsNoSession(t *testing.T) {
	e := newEnv(t, false)
	b := e.as(t, "viewer")
	refresh := func() page {
		req, _ := http.NewRequest(http.MethodGet, b.base+"/console/", nil)
		req.Header.Set("HX-Request", "true")
		return b.do(req)
	}
	e.clock.add(20 * time.Minute)
	if p := refresh(); p.status != http.StatusOK {
		t.Fatalf("refresh: %d", p.status)
	}
	e.clock.add(20 * time.Minute) // 40 minutes since the operator's last page
	if p := refresh(); p.status != http.StatusUnauthorized || p.header.Get("HX-Redirect") != "/console/login?next=%2Fconsole%2F" {
		t.Errorf("the refresh kept the session alive, or did not send the page to the sign-in: %d %v", p.status, p.header)
	}
	b = e.as(t, "viewer")
	e.clock.add(20 * time.Minute)
	if p := b.get("/console/requests"); p.status != http.StatusOK {
		t.Fatal(p.status)
	}
	e.clock.add(20 * time.Minute)
	if p := b.get("/console/"); p.status != http.StatusOK {
		t.Errorf("a page the operator opened did not keep the session: %d", p.status)
	}
}

// TestNewActionsRefused: every action of the new pages refuses a viewer (and an
// operator where it is the admin's), a missing and a wrong CSRF token: 403, nothing
// done.
func TestNewActionsRefused(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	n := pgtest.Request(t, e.db, pgtest.RequestOpts{Smartcard: "Z1"})
	roles := map[string]*browser{}
	csrf := map[string]string{}
	for _, r := range console.Roles {
		roles[r] = e.as(t, r)
		csrf[r] = roles[r].get("/console/").csrf(t)
	}
	actions := []struct {
		path string
		need string
		form url.Values
	}{
		{"/console/bulk", "operator", url.Values{"smartcard": {"Z1"}, "lever": {"hold"}, "expect": {"1"}}},
		{"/console/upload/confirm", "operator", url.Values{"token": {strings.Repeat("a", 43)}, "name": {"x.csv"}}},
		{"/console/pause", "operator", url.Values{"target": {"queue"}, "back": {"/console/runs"}}},
		{"/console/operators", "admin", url.Values{"name": {"mallory"}, "role": {"admin"}}},
		{"/console/operators/viewer/disable", "admin", nil},
		{"/console/operators/viewer/password", "admin", url.Values{"password": {"mallory-password"}}},
		{"/console/tokens", "admin", url.Values{"name": {"mallory"}}},
	}
	for _, a := range actions {
		try := func(who, token string) {
			t.Helper()
			f := url.Values{}
			for k, v := range a.form {
				f[k] = v
			}
			if token != "" {
				f.Set("csrf", token)
			}
			if p := roles[who].post(a.path, f); p.status != http.StatusForbidden {
				t.Errorf("%s by %s (csrf %q): %d, want 403", a.path, who, token, p.status)
			}
		}
		for _, who := range console.Roles {
			if who == a.need || who == "admin" {
				try(who, "")            // missing
				try(who, csrf[who]+"x") // wrong
				continue
			}
			try(who, csrf[who]) // too few rights
		}
	}
	if r, _ := ops.Get(ctx, e.db, n); r.HeldAt != nil {
		t.Error("held")
	}
	if ps, _ := ops.Paused(ctx, e.db); len(ps) != 0 {
		t.Errorf("paused: %v", ps)
	}
	if list, _ := console.ListOperators(ctx, e.db); len(list) != 3 || list[2].Disabled {
		t.Errorf("operators changed: %+v", list)
	}
	if p := e.browser(t).signIn("viewer", "viewer-password"); p.status != http.StatusSeeOther {
		t.Errorf("the viewer's password changed: %d", p.status)
	}
	if ts, _ := api.ListTokens(ctx, e.db); len(ts) != 0 {
		t.Errorf("tokens: %v", ts)
	}
	if audit, _ := ops.ListAudit(ctx, e.db, ops.AuditFilter{}); len(audit) != 0 {
		t.Errorf("audited: %+v", audit)
	}
}

// TestRequestsSortBySettlement: by settlement time, oldest or newest first, ties
// broken by number, the PENDING requests left out and said so; the next page's link
// keeps the filters and continues after the last row's (settlement time, number),
// no row lost or repeated; a settlement range sorts so unless a sort is chosen.
func TestRequestsSortBySettlement(t *testing.T) {
	e := newEnv(t, false)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var opts []pgtest.RequestOpts
	for i := 0; i < 70; i++ {
		o := pgtest.RequestOpts{Smartcard: fmt.Sprintf("S%d", i)}
		if i%10 != 9 {
			// Settled earlier the higher the number, by pairs: some at the same instant
			// (the number breaks the tie), some a microsecond apart against number
			// order (which the page's position must keep).
			o.State, o.ExecutedDate = "COMPLETED", pgtest.Ptr(base.Add(time.Duration(70-i)/2*time.Hour+time.Duration(i%6/4)*time.Microsecond))
		}
		opts = append(opts, o)
	}
	nums := pgtest.Requests(t, e.db, opts...)
	type row struct {
		at     time.Time
		number int64
	}
	var settled []row
	for i, o := range opts {
		if o.ExecutedDate != nil {
			settled = append(settled, row{*o.ExecutedDate, nums[i]})
		}
	}
	slices.SortFunc(settled, func(a, b row) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return int(a.number - b.number)
	})
	want := func(newest bool, since time.Time) []string {
		var out []string
		for _, r := range settled {
			if !r.at.Before(since) {
				out = append(out, fmt.Sprint(r.number))
			}
		}
		if newest {
			slices.Reverse(out)
		}
		return out
	}
	b := e.as(t, "viewer")
	rows := func(p page) []string {
		var out []string
		for _, n := range find(p.doc, hasAttr("data-number")) {
			out = append(out, attr(n, "data-number"))
		}
		return out
	}
	selected := func(p page) string {
		for _, n := range find(p.doc, hasAttr("selected")) {
			if v := attr(n, "value"); v != "" {
				return v
			}
		}
		return "number"
	}
	since := base.Add(5 * time.Hour)
	for _, c := range []struct {
		query, sort string
		want        []string
	}{
		{"sort=executed", "executed", want(false, time.Time{})},
		{"sort=executed-newest", "executed-newest", want(true, time.Time{})},
		{"sort=executed&state=COMPLETED", "executed", want(false, time.Time{})},
		{"executed_since=" + since.Format(time.RFC3339), "executed", want(false, since)},
	} {
		var got []string
		p := b.get("/console/requests?" + c.query)
		for pages := 0; ; pages++ {
			if p.status != http.StatusOK || pages > 3 {
				t.Fatalf("%s: page %d: %d\n%s", c.query, pages, p.status, p.body)
			}
			if s := selected(p); s != c.sort {
				t.Errorf("%s: the sort shown is %q, want %q", c.query, s, c.sort)
			}
			if note := text(p.one(t, "by-settlement")); !strings.Contains(note, "PENDING requests, not settled yet, are left out") {
				t.Errorf("%s: note %q", c.query, note)
			}
			if n := text(p.one(t, "count")); n != fmt.Sprintf("%d requests match.", len(c.want)) {
				t.Errorf("%s: %q, want %d", c.query, n, len(c.want))
			}
			got = append(got, rows(p)...)
			next := find(p.doc, withAttr("id", "next"))
			if len(next) == 0 {
				break
			}
			href := attr(next[0], "href")
			u, err := url.Parse(href)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range mustQuery(t, c.query) {
				if u.Query().Get(k) != v[0] {
					t.Errorf("%s: next %s lost %s=%s", c.query, href, k, v[0])
				}
			}
			if u.Query().Get("position_at") == "" {
				t.Errorf("%s: next %s has no settlement time", c.query, href)
			}
			p = b.get(href)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: listed %v, want %v", c.query, got, c.want)
		}
	}
	if p := b.get("/console/requests?executed_since=" + since.Format(time.RFC3339) + "&sort=number"); p.status != http.StatusOK ||
		len(find(p.doc, withAttr("id", "by-settlement"))) != 0 || rows(p)[0] != fmt.Sprint(nums[0]) {
		t.Errorf("a settlement range in number order: %d, rows %v", p.status, rows(p))
	}
	for _, q := range []string{"sort=executed&after=5", "sort=executed&state=PENDING", "sort=executed&after=5&position_at=yesterday"} {
		if p := b.get("/console/requests?" + q); p.status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, p.status)
		}
	}
}

func mustQuery(t *testing.T, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
