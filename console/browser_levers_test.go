package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/provisioner/provisioner/console/browsertest"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// TestBrowserRequestLevers: an operator pulls each lever of a request's page that
// TestBrowserHoldRelease does not (retry, cancel with its reason, reschedule,
// priority), sees the result, goes back to the request and sees it changed; the
// database holds the change, and the Audit page, filtered by the operator's name,
// lists each under it.
func TestBrowserRequestLevers(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	at := time.Date(2031, 1, 2, 3, 4, 0, 0, time.UTC)
	cases := []struct {
		lever string
		opts  pgtest.RequestOpts
		fill  []chromedp.Action[chromedp.Void] // the lever's form, before its button
		// after: the result's row, the request's page once back (a selector and a
		// text it contains) and the row in the database.
		outcome     string
		sel, shows  string
		check       func(r ops.Request) bool
		description string
	}{
		{lever: ops.ActionRetry, opts: pgtest.RequestOpts{State: "REJECTED", ErrorCode: pgtest.Ptr("E_BUSY")},
			outcome: "changed: back to PENDING, to be sent under command id", sel: `#fields td[data-field="state"]`, shows: "PENDING",
			check:       func(r ops.Request) bool { return r.State == "PENDING" && r.Retries == 1 },
			description: "PENDING, retried once"},
		{lever: ops.ActionCancel,
			fill:    []chromedp.Action[chromedp.Void]{chromedp.SendKeys(chromedp.CSS(`form[data-lever=cancel] input[name=reason]`), "customer left")},
			outcome: "changed", sel: `#fields td[data-field="state"]`, shows: "REJECTED",
			check: func(r ops.Request) bool {
				return r.State == "REJECTED" && r.ErrorDescription == "cancelled by operator: customer left"
			},
			description: "REJECTED, cancelled by operator: customer left"},
		{lever: ops.ActionReschedule,
			// A datetime-local field's value is its ISO form whatever the browser's locale
			// shows; the console reads it as UTC.
			fill:    []chromedp.Action[chromedp.Void]{chromedp.SetValue(chromedp.CSS(`form[data-lever=reschedule] input[name=at]`), "2031-01-02T03:04")},
			outcome: "changed", sel: "#waits", shows: "scheduled",
			check:       func(r ops.Request) bool { return r.ScheduledDate.Equal(at) && r.State == "PENDING" },
			description: "scheduled at " + at.Format(time.RFC3339)},
		{lever: ops.ActionPriority,
			fill:    []chromedp.Action[chromedp.Void]{chromedp.SetValue(chromedp.CSS(`form[data-lever=priority] select[name=priority]`), "EXPRESS")},
			outcome: "changed", sel: `#fields td[data-field="priority"]`, shows: "EXPRESS",
			check:       func(r ops.Request) bool { return r.Priority == "EXPRESS" && r.State == "PENDING" },
			description: "EXPRESS"},
	}
	b := e.chromium(t, "operator")
	nums := make([]int64, len(cases))
	for i, c := range cases {
		c.opts.Smartcard = fmt.Sprintf("L%d", i)
		n := pgtest.Request(t, e.db, c.opts)
		nums[i] = n
		b.Go(fmt.Sprintf("/console/requests/%d", n), fmt.Sprintf(`form[data-lever=%s]`, c.lever))
		if c.lever == ops.ActionCancel {
			// Without its reason the browser does not send the form (the field is
			// required): the server's refusal of it is TestLevers'.
			vctx, cancel := context.WithTimeout(b.Ctx, browsertest.StepTimeout)
			ok, err := chromedp.Run(vctx, chromedp.Evaluate[bool](`document.querySelector("form[data-lever=cancel]").checkValidity()`))
			cancel()
			if err != nil || ok {
				t.Errorf("cancel's form is valid without a reason (%v)", err)
			}
		}
		b.Do(c.fill...)
		b.Do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`form[data-lever=%s] button`, c.lever))))
		b.WaitText("#summary", "1 changed.")
		row := fmt.Sprintf(`#outcomes tr[data-number="%d"]`, n)
		if got := b.Text(row); !strings.Contains(got, c.outcome) {
			t.Errorf("%s: the result's row: %q, want %q", c.lever, got, c.outcome)
		}
		b.Screenshot(c.lever)
		r, err := ops.Get(ctx, e.db, n)
		if err != nil || !c.check(r) {
			t.Errorf("%s: request %d is %s %s %s %q (%v), want %s", c.lever, n, r.State, r.Priority, r.ScheduledDate, r.ErrorDescription, err, c.description)
		}
		b.Do(chromedp.Click(chromedp.CSS(`#back`)), chromedp.WaitVisible(chromedp.CSS(`#fields`)))
		if got := b.Text(c.sel); !strings.Contains(got, c.shows) {
			t.Errorf("%s: back on the request, %s shows %q, want %q", c.lever, c.sel, got, c.shows)
		}
	}

	// The Audit page, filtered by its form: the four, newest first, each under the
	// operator's name with its command and request.
	b.Go("/console/audit", "#filters")
	b.Do(
		chromedp.SendKeys(chromedp.CSS(`#filters input[name=operator]`), "operator"),
		chromedp.Click(chromedp.CSS(`#filters button[type=submit]`)),
		chromedp.WaitReady(chromedp.CSS(`#filters input[name=operator][value=operator]`)), // the page of the filter
	)
	if n := b.Count(`#entries tr[data-entry]`); n != len(cases) {
		t.Fatalf("audit: %d entries, want %d", n, len(cases))
	}
	for i, c := range cases {
		// Newest first: the last lever pulled is the first row.
		sel := fmt.Sprintf(`#entries tr[data-entry]:nth-child(%d)`, len(cases)-i+1) // the header is the first child
		want := fmt.Sprintf("operator %s console: %s request %d", c.lever, c.lever, nums[i])
		if got := b.Text(sel); !strings.Contains(got, want) || !strings.HasSuffix(got, fmt.Sprintf("1: %d", nums[i])) {
			t.Errorf("audit row %d: %q, want %q and its request", i, got, want)
		}
	}
	b.Screenshot("audit")
	audit, err := ops.ListAudit(ctx, e.db, ops.AuditFilter{Operator: "operator"})
	if err != nil || len(audit) != len(cases) {
		t.Fatalf("audit trail: %+v, %v", audit, err)
	}
	for i, a := range audit {
		c := cases[len(cases)-1-i]
		if a.Action != c.lever || len(a.Numbers) != 1 || a.Numbers[0] != nums[len(cases)-1-i] {
			t.Errorf("audit entry %d: %s %v, want %s %d", i, a.Action, a.Numbers, c.lever, nums[len(cases)-1-i])
		}
	}
}

// TestBrowserBulkLevers: on the requests a filter matches, an operator pulls each
// lever TestBrowserBulkRetry does not (priority, hold, reschedule, release,
// cancel) through its confirmation page: the count and sample shown, nothing
// changed before the confirmation, what was skipped and why on the result page.
// A count that changed since the confirmation is refused with nothing changed, and
// the page leads back to a fresh confirmation.
func TestBrowserBulkLevers(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	var opts []pgtest.RequestOpts
	for i := 0; i < 3; i++ {
		opts = append(opts, pgtest.RequestOpts{Smartcard: fmt.Sprintf("B%d", i), Type: "RESET_SMARTCARD"})
	}
	opts = append(opts, pgtest.RequestOpts{Smartcard: "O1"}) // RESET_PIN: not matched
	nums := pgtest.Requests(t, e.db, opts...)
	matched, other := nums[:3], nums[3]
	// One is held already: the bulk hold skips it, saying why.
	if _, err := ops.Pull(ctx, e.db, ops.Filter{Number: matched[0]}, ops.Lever{Action: ops.ActionHold, Reason: "before"},
		ops.LeverOptions{Expect: -1, Actor: ops.Actor{Operator: "setup"}}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2031, 1, 2, 3, 4, 0, 0, time.UTC)
	get := func(n int64) ops.Request {
		t.Helper()
		r, err := ops.Get(ctx, e.db, n)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cases := []struct {
		lever   string
		fill    []chromedp.Action[chromedp.Void] // the bulk form's parameter
		count   string                           // the confirmation's
		summary string
		skipped string // the result's, "" when none
		before  func(r ops.Request) bool
		check   func(r ops.Request) bool
	}{
		{lever: ops.ActionPriority,
			fill:  []chromedp.Action[chromedp.Void]{chromedp.SetValue(chromedp.CSS(`#bulk select[name=new_priority]`), "EXPRESS")},
			count: "3 requests match: 3 would be changed.", summary: "3 changed.",
			before: func(r ops.Request) bool { return r.Priority == "REGULAR" },
			check:  func(r ops.Request) bool { return r.Priority == "EXPRESS" }},
		{lever: ops.ActionHold,
			fill:  []chromedp.Action[chromedp.Void]{chromedp.SendKeys(chromedp.CSS(`#bulk input[name=reason]`), "card swap")},
			count: "3 requests match: 2 would be changed, 1 skipped (already held).", summary: "2 changed.", skipped: "Skipped: 1 already held.",
			before: func(r ops.Request) bool { return r.HeldAt == nil || r.HeldBy == "setup" },
			check: func(r ops.Request) bool {
				return r.HeldAt != nil && (r.HeldBy == "operator") == (r.HeldReason == "card swap")
			}},
		{lever: ops.ActionReschedule,
			fill:  []chromedp.Action[chromedp.Void]{chromedp.SetValue(chromedp.CSS(`#bulk input[name=at]`), "2031-01-02T03:04")},
			count: "3 requests match: 3 would be changed.", summary: "3 changed.",
			before: func(r ops.Request) bool { return !r.ScheduledDate.Equal(at) },
			check:  func(r ops.Request) bool { return r.ScheduledDate.Equal(at) }},
		{lever: ops.ActionRelease,
			count: "3 requests match: 3 would be changed.", summary: "3 changed.",
			before: func(r ops.Request) bool { return r.HeldAt != nil },
			check:  func(r ops.Request) bool { return r.HeldAt == nil }},
		{lever: ops.ActionCancel,
			fill:  []chromedp.Action[chromedp.Void]{chromedp.SendKeys(chromedp.CSS(`#bulk input[name=reason]`), "contract ended")},
			count: "3 requests match: 3 would be changed.", summary: "4 changed.", // after the refusal below: 4
			before: func(r ops.Request) bool { return r.State == "PENDING" },
			check: func(r ops.Request) bool {
				return r.State == "REJECTED" && r.ErrorDescription == "cancelled by operator: contract ended"
			}},
	}
	b := e.chromium(t, "operator")
	for _, c := range cases {
		b.Go("/console/requests?state=PENDING&type=RESET_SMARTCARD", "#bulk")
		b.WaitText("#count", "3 requests match.")
		b.Do(chromedp.SetValue(chromedp.CSS(`#bulk select[name=lever]`), c.lever))
		b.Do(c.fill...)
		b.Do(chromedp.Click(chromedp.CSS(`#bulk button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
		b.WaitText("#count", c.count)
		if n := b.Count(`#sample tr[data-number]`); n != 3 {
			t.Errorf("%s: a sample of %d", c.lever, n)
		}
		if got := b.Text("#filters-given"); !strings.Contains(got, "state = PENDING, type = RESET_SMARTCARD") {
			t.Errorf("%s: the filters shown: %q", c.lever, got)
		}
		for _, n := range matched {
			if r := get(n); !c.before(r) {
				t.Fatalf("%s: the confirmation page changed request %d: %+v", c.lever, n, r)
			}
		}
		b.Screenshot(c.lever + "-confirmation")
		if c.lever == ops.ActionCancel {
			// Another request matches by the time the operator confirms: refused,
			// nothing changed, and Back is the confirmation of the new count.
			matched = append(matched, pgtest.Request(t, e.db, pgtest.RequestOpts{Smartcard: "B3", Type: "RESET_SMARTCARD", Priority: "EXPRESS"}))
			b.Do(chromedp.Click(chromedp.CSS(`#confirm button[type=submit]`)))
			b.WaitText("#error", "4 requests match now, not the 3 you confirmed: the queue changed since the confirmation page. Look again, and confirm the new count.")
			b.WaitText("#error + p", "Nothing was changed.")
			b.Screenshot("count-changed")
			for _, n := range matched {
				if r := get(n); r.State != "PENDING" {
					t.Fatalf("request %d is %s after a refused cancel", n, r.State)
				}
			}
			b.Do(chromedp.Click(chromedp.CSS(`#back`)), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
			b.WaitText("#count", "4 requests match: 4 would be changed.")
		}
		b.Do(chromedp.Click(chromedp.CSS(`#confirm button[type=submit]`)))
		b.WaitText("#summary", c.summary)
		if c.skipped != "" {
			if got := b.Text("#skipped"); got != c.skipped {
				t.Errorf("%s: %q, want %q", c.lever, got, c.skipped)
			}
			if got := b.Text(fmt.Sprintf(`#outcomes tr[data-number="%d"]`, matched[0])); !strings.Contains(got, "skipped: already held") {
				t.Errorf("%s: the skipped row: %q", c.lever, got)
			}
		} else if n := b.Count("#skipped"); n != 0 {
			t.Errorf("%s: skipped: %q", c.lever, b.Text("#skipped"))
		}
		b.Screenshot(c.lever + "-result")
		for _, n := range matched {
			if r := get(n); !c.check(r) {
				t.Errorf("%s: request %d after: %+v", c.lever, n, r)
			}
		}
		if r := get(other); r.State != "PENDING" || r.Priority != "REGULAR" || r.HeldAt != nil || r.ScheduledDate.Equal(at) {
			t.Errorf("%s changed request %d, which the filter does not match: %+v", c.lever, other, r)
		}
	}
	audit, err := ops.ListAudit(ctx, e.db, ops.AuditFilter{Operator: "operator"})
	var got []string
	for _, a := range audit {
		got = append(got, fmt.Sprintf("%s %d", a.Action, a.Touched))
	}
	if err != nil || strings.Join(got, ",") != "cancel 4,release 3,reschedule 3,hold 2,priority 3" {
		t.Errorf("audit: %v, %v", got, err)
	}
}
