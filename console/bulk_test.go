package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// confirmForm reads the confirmation page's form: every field as it would post.
func confirmForm(t *testing.T, p page) url.Values {
	t.Helper()
	form := url.Values{}
	for _, in := range find(p.one(t, "confirm"), func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == "input" }) {
		form.Add(attr(in, "name"), attr(in, "value"))
	}
	return form
}

// TestBulk: a lever on everything a filter matches, after the confirmation page's
// count and sample; refused, nothing changed, when the count changed since; the
// result says what was skipped and why; recorded under the operator's name.
func TestBulk(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	var opts []pgtest.RequestOpts
	for i := 0; i < 25; i++ {
		opts = append(opts, pgtest.RequestOpts{Smartcard: fmt.Sprintf("B%d", i), Type: "RESET_SMARTCARD"})
	}
	opts = append(opts,
		pgtest.RequestOpts{Smartcard: "R1", State: "REJECTED", ErrorCode: pgtest.Ptr("E_BUSY")},
		pgtest.RequestOpts{Smartcard: "R2", State: "REJECTED", ErrorCode: pgtest.Ptr("E_BUSY")},
		pgtest.RequestOpts{Smartcard: "R3", State: "REJECTED", ErrorCode: pgtest.Ptr("E_NOT_PAIRED")})
	nums := pgtest.Requests(t, e.db, opts...)
	// One is held already: the bulk hold skips it, and says why.
	if _, err := ops.Pull(ctx, e.db, ops.Filter{Number: nums[3]}, ops.Lever{Action: ops.ActionHold}, ops.LeverOptions{Expect: -1, Actor: ops.Actor{Operator: "setup"}}); err != nil {
		t.Fatal(err)
	}
	b := e.as(t, "operator")

	// The Requests page offers the bulk levers once a filter is given.
	p := b.get("/console/requests?type=RESET_SMARTCARD")
	if len(find(p.doc, withAttr("id", "bulk"))) != 1 {
		t.Fatalf("no bulk form on a filtered Requests page:\n%s", p.body)
	}
	if p := b.get("/console/requests"); len(find(p.doc, withAttr("id", "bulk"))) != 0 {
		t.Errorf("a bulk form without a filter")
	}

	p = b.get("/console/bulk?type=RESET_SMARTCARD&lever=hold&reason=fraud+check")
	if p.status != http.StatusOK {
		t.Fatalf("confirmation: %d\n%s", p.status, p.body)
	}
	if got := text(p.one(t, "count")); got != "25 requests match: 24 would be changed, 1 skipped (already held)." {
		t.Errorf("count: %q", got)
	}
	if got := len(find(p.one(t, "sample"), hasAttr("data-number"))); got != 20 {
		t.Errorf("sample of %d rows, want 20", got)
	}
	form := confirmForm(t, p)
	if form.Get("expect") != "25" || form.Get("lever") != "hold" || form.Get("type") != "RESET_SMARTCARD" || form.Get("reason") != "fraud check" {
		t.Fatalf("confirmation form: %v", form)
	}
	if r, _ := ops.Get(ctx, e.db, nums[0]); r.HeldAt != nil {
		t.Fatal("the confirmation page changed a request")
	}
	p = b.post("/console/bulk", form)
	if p.status != http.StatusOK || text(p.one(t, "summary")) != "24 changed." || text(p.one(t, "skipped")) != "Skipped: 1 already held." {
		t.Fatalf("bulk hold: %d\n%s", p.status, p.body)
	}
	if got := len(find(p.one(t, "outcomes"), hasAttr("data-number"))); got != 25 {
		t.Errorf("result lists %d requests, want 25", got)
	}
	held, _ := ops.CountUpTo(ctx, e.db, ops.Filter{Types: []string{"RESET_SMARTCARD"}}, 100)
	if r, _ := ops.Get(ctx, e.db, nums[0]); r.HeldAt == nil || r.HeldBy != "operator" || r.HeldReason != "fraud check" || held != 25 {
		t.Errorf("after the bulk hold: %+v", r)
	}
	audit, err := ops.ListAudit(ctx, e.db, ops.AuditFilter{Operator: "operator", Action: ops.ActionHold})
	if err != nil || len(audit) != 1 || audit[0].Touched != 24 || !strings.HasPrefix(audit[0].Command, "console: bulk hold ") {
		t.Errorf("audit: %+v, %v", audit, err)
	}

	// The count changed since the confirmation: refused, nothing changed.
	p = b.get("/console/bulk?type=RESET_SMARTCARD&lever=release")
	form = confirmForm(t, p)
	if form.Get("expect") != "25" {
		t.Fatalf("release confirmation: %s", text(p.one(t, "count")))
	}
	late := pgtest.Request(t, e.db, pgtest.RequestOpts{Smartcard: "B99", Type: "RESET_SMARTCARD"})
	p = b.post("/console/bulk", form)
	if p.status != http.StatusConflict || !strings.Contains(text(p.one(t, "error")), "26 requests match now, not the 25 you confirmed") {
		t.Fatalf("count changed: %d\n%s", p.status, p.body)
	}
	if r, _ := ops.Get(ctx, e.db, nums[0]); r.HeldAt == nil {
		t.Error("released although the count had changed")
	}
	if back := attr(p.one(t, "back"), "href"); !strings.HasPrefix(back, "/console/bulk?") || !strings.Contains(back, "lever=release") {
		t.Errorf("back to the confirmation: %s", back)
	}
	_ = late

	// Retry: the REJECTED ones of a code.
	p = b.get("/console/bulk?state=REJECTED&error_code=E_BUSY&lever=retry")
	if p.status != http.StatusOK || text(p.one(t, "count")) != "2 requests match: 2 would be changed." {
		t.Fatalf("retry confirmation: %d\n%s", p.status, p.body)
	}
	p = b.post("/console/bulk", confirmForm(t, p))
	if p.status != http.StatusOK || text(p.one(t, "summary")) != "2 changed." {
		t.Fatalf("bulk retry: %d\n%s", p.status, p.body)
	}
	if r, _ := ops.Get(ctx, e.db, nums[25]); r.State != "PENDING" || r.Retries != 1 {
		t.Errorf("retried: %+v", r)
	}
	if r, _ := ops.Get(ctx, e.db, nums[27]); r.State != "REJECTED" {
		t.Errorf("E_NOT_PAIRED retried too: %+v", r)
	}

	// Priority, with its own field: priority is a filter.
	p = b.get("/console/bulk?type=RESET_SMARTCARD&priority=REGULAR&lever=priority&new_priority=EXPRESS")
	if p.status != http.StatusOK || text(p.one(t, "count")) != "26 requests match: 26 would be changed." {
		t.Fatalf("priority confirmation: %d\n%s", p.status, p.body)
	}

	// Mistakes: named, nothing done.
	for _, c := range []struct{ query, want string }{
		{"lever=hold", "give at least one filter"},
		{"type=RESET_SMARTCARD&lever=explode", `lever "explode"`},
		{"type=RESET_SMARTCARD&lever=cancel", "cancel needs a reason"},
		{"state=COMPLETED&lever=hold", "only PENDING requests"},
		{"state=PENDING&lever=retry", "only REJECTED requests"},
		{"type=NOPE&lever=hold", `type: "NOPE" is not one of`},
	} {
		p := b.get("/console/bulk?" + c.query)
		if p.status != http.StatusBadRequest || !strings.Contains(text(p.one(t, "error")), c.want) {
			t.Errorf("%s: %d, want 400 %q\n%s", c.query, p.status, c.want, p.body)
		}
	}
	p = b.post("/console/bulk", url.Values{"csrf": {form.Get("csrf")}, "type": {"RESET_SMARTCARD"}, "lever": {"release"}})
	if p.status != http.StatusBadRequest || !strings.Contains(text(p.one(t, "error")), "the count confirmed is missing") {
		t.Errorf("no expect: %d\n%s", p.status, p.body)
	}
	if r, _ := ops.Get(ctx, e.db, nums[0]); r.HeldAt == nil {
		t.Error("released without a confirmed count")
	}
}

// TestBulkRefusals: no session, a viewer, a missing or wrong CSRF token: refused,
// nothing changed.
func TestBulkRefusals(t *testing.T) {
	e := newEnv(t, false)
	n := pgtest.Request(t, e.db, pgtest.RequestOpts{Smartcard: "X1"})
	form := url.Values{"smartcard": {"X1"}, "lever": {"hold"}, "expect": {"1"}}
	op := e.as(t, "operator")
	csrf := op.get("/console/").csrf(t)
	viewer := e.as(t, "viewer")
	vcsrf := viewer.get("/console/").csrf(t)
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range form {
			f[kk] = vv
		}
		if v != "" {
			f.Set(k, v)
		}
		return f
	}
	for _, c := range []struct {
		name   string
		b      *browser
		method string
		form   url.Values
		status int
	}{
		{"no session GET", e.browser(t), "GET", nil, http.StatusSeeOther},
		{"no session POST", e.browser(t), "POST", with("csrf", "x"), http.StatusSeeOther},
		{"viewer GET", viewer, "GET", nil, http.StatusForbidden},
		{"viewer POST", viewer, "POST", with("csrf", vcsrf), http.StatusForbidden},
		{"no csrf", op, "POST", with("", ""), http.StatusForbidden},
		{"wrong csrf", op, "POST", with("csrf", csrf+"x"), http.StatusForbidden},
	} {
		var p page
		if c.method == "GET" {
			p = c.b.get("/console/bulk?smartcard=X1&lever=hold")
		} else {
			p = c.b.post("/console/bulk", c.form)
		}
		if p.status != c.status {
			t.Errorf("%s: %d, want %d", c.name, p.status, c.status)
		}
	}
	if r, _ := ops.Get(context.Background(), e.db, n); r.HeldAt != nil {
		t.Error("held by a refused bulk lever")
	}
}
