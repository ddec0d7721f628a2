package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/provisioner/provisioner/console/browsertest"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// The browser tests: the console in a real headless Chromium (console/browsertest),
// served over real HTTP on a fresh database (newEnv), as an operator uses it.
//
// To add one: start from newEnv(t, false) and the rows the test is about
// (pgtest.Requests), then b := e.chromium(t, "operator") (signed in as that role;
// newEnv's accounts are viewer, operator and admin). Drive the page with b.Go(path,
// selector), b.Do(chromedp.SendKeys / SetValue / Click ..., chromedp.WaitVisible(...)),
// and read it with b.Text / b.WaitText / b.Count: each waits for the page, under
// browsertest.StepTimeout, never for a time. Select by the ids and data- attributes
// the handler tests use. Assert what the database holds afterwards through ops, and
// call b.Screenshot("what") at the page the test is about. Without Chromium
// (scripts/ensure-chromium.sh) the tests are skipped, saying so.

// chromium starts a browser on e's console, signed in as the operator of role.
func (e *env) chromium(t *testing.T, role string) *browsertest.Browser {
	t.Helper()
	b := browsertest.New(t, e.srv.URL)
	b.SignIn(role, role+"-password")
	return b
}

// TestBrowserSignIn: a wrong password shows the error and no session; the right one
// leads to the overview, naming the operator; Sign out ends it.
func TestBrowserSignIn(t *testing.T) {
	e := newEnv(t, false)
	b := browsertest.New(t, e.srv.URL)
	b.Go("/console/requests", "#login") // no session: the sign-in page
	b.Do(
		chromedp.SendKeys(chromedp.CSS(`#login input[name=username]`), "operator"),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=password]`), "not-the-password"),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
	)
	b.WaitText("#error", "wrong name or password")
	if n := b.Count("#who"); n != 0 {
		t.Fatalf("signed in with a wrong password")
	}
	b.Screenshot("wrong-password")

	// The page keeps the name, never the password.
	b.Do(
		chromedp.SendKeys(chromedp.CSS(`#login input[name=password]`), "operator-password"),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#filters`)), // back to the page asked for
	)
	b.WaitText("#who", "operator (operator)")
	b.Go("/console/", "#states")
	b.Screenshot("overview")

	b.Do(chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.CSS(`#login`)))
	b.Go("/console/", "#login") // the session is over
}

// TestBrowserFilter: the Requests page's form filters, and a request opens from the
// list with its fields.
func TestBrowserFilter(t *testing.T) {
	e := newEnv(t, false)
	var opts []pgtest.RequestOpts
	for i := 0; i < 7; i++ {
		opts = append(opts, pgtest.RequestOpts{Smartcard: fmt.Sprintf("C%d", i)})
	}
	opts = append(opts,
		pgtest.RequestOpts{Smartcard: "X1", Type: "RESET_SMARTCARD", State: "REJECTED", ErrorCode: pgtest.Ptr("E_NOT_PAIRED")},
		pgtest.RequestOpts{Smartcard: "X2", Type: "RESET_SMARTCARD", State: "REJECTED", ErrorCode: pgtest.Ptr("E_BUSY")},
	)
	nums := pgtest.Requests(t, e.db, opts...)
	b := e.chromium(t, "viewer")

	b.Go("/console/requests", "#filters")
	b.WaitText("#count", "9 requests match.")
	b.Do(
		chromedp.SetValue(chromedp.CSS(`#filters select[name=state]`), "REJECTED"),
		chromedp.SendKeys(chromedp.CSS(`#filters input[name=error_code]`), "E_NOT_PAIRED"),
		chromedp.Click(chromedp.CSS(`#filters button[type=submit]`)),
	)
	b.WaitText("#count", "1 request matches.")
	want := fmt.Sprint(nums[7])
	if n := b.Count(`#rows tr[data-number="` + want + `"]`); n != 1 || b.Count(`#rows tr[data-number]`) != 1 {
		t.Fatalf("rows: request %s listed %d times, %d rows", want, n, b.Count(`#rows tr[data-number]`))
	}
	b.Screenshot("filtered")

	// A mistake is named by its field, and nothing is listed.
	b.Do(
		chromedp.SetValue(chromedp.CSS(`#filters input[name=created_since]`), "yesterday-ish"),
		chromedp.Click(chromedp.CSS(`#filters button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`ul#errors`)),
	)
	if got := b.Text("ul#errors"); !strings.HasPrefix(got, "created_since: ") {
		t.Errorf("the mistake: %q", got)
	}

	b.Go("/console/requests?state=REJECTED&error_code=E_NOT_PAIRED", "#rows")
	b.Do(
		chromedp.Click(chromedp.CSS(`#rows tr[data-number="`+want+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`#fields`)),
	)
	b.WaitText(`#fields td[data-field="state"]`, "REJECTED")
	if got := b.Text("h1"); !strings.Contains(got, want) {
		t.Errorf("request page's title: %q, want its number %s", got, want)
	}
	b.Screenshot("request")
}

// TestBrowserHoldRelease: an operator holds a PENDING request from its page, with
// a reason, and releases it; both recorded under its name.
func TestBrowserHoldRelease(t *testing.T) {
	e := newEnv(t, false)
	n := pgtest.Request(t, e.db, pgtest.RequestOpts{Smartcard: "C1"})
	ctx := context.Background()
	b := e.chromium(t, "operator")

	b.Go(fmt.Sprintf("/console/requests/%d", n), "#levers")
	b.Do(
		chromedp.SendKeys(chromedp.CSS(`form[data-lever=hold] input[name=reason]`), "card swap"),
		chromedp.Click(chromedp.CSS(`form[data-lever=hold] button`)),
	)
	b.WaitText("#summary", "1 changed.")
	b.Screenshot("held")
	r, err := ops.Get(ctx, e.db, n)
	if err != nil || r.HeldAt == nil || r.HeldBy != "operator" || r.HeldReason != "card swap" {
		t.Fatalf("after hold: %+v, %v", r, err)
	}

	b.Do(chromedp.Click(chromedp.CSS(`#outcomes a`)), chromedp.WaitVisible(chromedp.CSS(`#levers`)))
	if got := b.Text("#waits"); !strings.Contains(got, "held") {
		t.Errorf("waits for: %q, want held", got)
	}
	b.Do(chromedp.Click(chromedp.CSS(`form[data-lever=release] button`)))
	b.WaitText("#summary", "1 changed.")
	if r, err = ops.Get(ctx, e.db, n); err != nil || r.HeldAt != nil {
		t.Fatalf("after release: %+v, %v", r, err)
	}
	audit, err := ops.ListAudit(ctx, e.db, ops.AuditFilter{Operator: "operator"})
	if err != nil || len(audit) != 2 || audit[0].Action != ops.ActionRelease || audit[1].Action != ops.ActionHold {
		t.Errorf("audit: %+v, %v", audit, err)
	}
}

// TestBrowserPauseResume: an operator pauses the process job from the overview, sees
// it paused there, and resumes it.
func TestBrowserPauseResume(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	b := e.chromium(t, "operator")

	b.Go("/console/", "#pause")
	b.Do(
		chromedp.SetValue(chromedp.CSS(`#pause select[name=target]`), "process"),
		chromedp.SendKeys(chromedp.CSS(`#pause input[name=reason]`), "gateway upgrade"),
		chromedp.Click(chromedp.CSS(`#pause button`)),
	)
	b.WaitText("#summary", "1 changed.")
	if pz, err := ops.PauseOf(ctx, e.db, "process"); err != nil || pz == nil || pz.PausedBy != "operator" || pz.Reason != "gateway upgrade" {
		t.Fatalf("the process job's pause: %+v, %v", pz, err)
	}

	b.Go("/console/", `tr[data-paused="process"]`)
	if got := b.Text(`tr[data-paused="process"]`); !strings.Contains(got, "operator gateway upgrade") {
		t.Errorf("paused row: %q", got)
	}
	b.Screenshot("paused")
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-paused="process"] button`)))
	b.WaitText("#summary", "1 changed.")
	if pz, err := ops.PauseOf(ctx, e.db, "process"); err != nil || pz != nil {
		t.Fatalf("still paused: %+v, %v", pz, err)
	}
	b.Go("/console/", "#paused")
	if n := b.Count(`tr[data-paused]`); n != 0 {
		t.Errorf("%d paused rows after resume", n)
	}
}
