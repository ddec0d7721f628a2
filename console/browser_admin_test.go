package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/provisioner/provisioner/api"
	"github.com/provisioner/provisioner/console"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// TestBrowserAdmin: an admin creates an operator (a viewer, its password generated
// and shown once), issues a Web API token and revokes it, and finds the three on
// the Audit page under its name. The new viewer then signs in with the password
// shown, and is offered no lever anywhere: not on a request, nor in bulk, nor a
// pause, nor the Operators page. Last the admin disables it (its sign-in refused
// from then on) and sets another operator's password (which then signs it in).
func TestBrowserAdmin(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	num := pgtest.Request(t, e.db, pgtest.RequestOpts{Smartcard: "V1"})
	b := e.chromium(t, "admin")

	b.Go("/console/operators", "#create-operator")
	b.Do(
		chromedp.SendKeys(chromedp.CSS(`#create-operator input[name=name]`), "dave"),
		chromedp.SetValue(chromedp.CSS(`#create-operator select[name=role]`), "viewer"),
		chromedp.Click(chromedp.CSS(`#create-operator button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#secret`)),
	)
	pw := b.Text("#secret")
	if len(pw) != 20 || !strings.Contains(b.Text("#note"), "shown this once") {
		t.Errorf("the generated password %q (%d characters), note %q", pw, len(pw), b.Text("#note"))
	}
	b.Screenshot("operator-created")
	accounts, err := console.ListOperators(ctx, e.db)
	if err != nil || len(accounts) != 4 {
		t.Fatalf("operators: %+v, %v", accounts, err)
	}
	if d := accounts[1]; d.Name != "dave" || d.Role != "viewer" || d.Disabled { // by name: admin, dave, ...
		t.Errorf("the new operator: %+v", d)
	}
	b.Do(chromedp.Click(chromedp.CSS(`#back`)), chromedp.WaitVisible(chromedp.CSS(`tr[data-operator=dave]`)))
	if got := b.Text(`tr[data-operator=dave]`); !strings.HasPrefix(got, "dave viewer active") {
		t.Errorf("dave's row: %q", got)
	}

	b.Do(
		chromedp.SendKeys(chromedp.CSS(`#create-token input[name=name]`), "crm"),
		chromedp.Click(chromedp.CSS(`#create-token button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#secret`)),
	)
	if secret := b.Text("#secret"); !strings.HasPrefix(secret, api.TokenPrefix) {
		t.Errorf("the token's secret: %q", secret)
	}
	b.Screenshot("token-created")
	if tokens, err := api.ListTokens(ctx, e.db); err != nil || len(tokens) != 1 || tokens[0].Name != "crm" || tokens[0].RevokedAt != nil {
		t.Fatalf("tokens after create: %+v, %v", tokens, err)
	}
	b.Do(chromedp.Click(chromedp.CSS(`#back`)), chromedp.WaitVisible(chromedp.CSS(`tr[data-token=crm]`)))
	if got := b.Text(`tr[data-token=crm]`); !strings.HasPrefix(got, "crm live") {
		t.Errorf("the token's row: %q", got)
	}
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-token=crm] form[data-action=revoke] button`)))
	b.WaitText("#summary", "1 changed.")
	if tokens, err := api.ListTokens(ctx, e.db); err != nil || len(tokens) != 1 || tokens[0].RevokedAt == nil {
		t.Fatalf("tokens after revoke: %+v, %v", tokens, err)
	}
	b.Do(chromedp.Click(chromedp.CSS(`#back`)), chromedp.WaitVisible(chromedp.CSS(`tr[data-token=crm]`)))
	if got := b.Text(`tr[data-token=crm]`); !strings.HasPrefix(got, "crm revoked") || b.Count(`tr[data-token=crm] form`) != 0 {
		t.Errorf("the revoked token's row: %q, %d forms", got, b.Count(`tr[data-token=crm] form`))
	}
	b.Screenshot("token-revoked")

	b.Go("/console/audit?operator=admin", "#entries")
	want := []string{"admin tokens revoke console: tokens revoke crm", "admin tokens create console: tokens create crm",
		"admin operators create console: operators create dave --role viewer"}
	if n := b.Count(`#entries tr[data-entry]`); n != len(want) {
		t.Fatalf("audit: %d entries of admin, want %d", n, len(want))
	}
	for i, w := range want {
		if got := b.Text(fmt.Sprintf(`#entries tr[data-entry]:nth-child(%d)`, i+2)); !strings.Contains(got, w) {
			t.Errorf("audit row %d: %q, want %q", i, got, w)
		}
	}
	b.Screenshot("audit")

	// The new viewer, in the same browser once the admin has signed out.
	b.Do(chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.CSS(`#login`)))
	b.SignIn("dave", pw)
	b.WaitText("#who", "dave (viewer)")
	if n := b.Count(`nav a[href="/console/operators"]`); n != 0 {
		t.Error("a viewer is shown the Operators page's link")
	}
	if n := b.Count(`#pause`); n != 0 {
		t.Error("a viewer is offered the overview's pause")
	}
	b.Go(fmt.Sprintf("/console/requests/%d", num), "#fields")
	if n := b.Count(`#levers, form[data-lever]`); n != 0 {
		t.Errorf("a viewer is offered %d levers on a PENDING request", n)
	}
	b.Screenshot("viewer-request")
	b.Go("/console/requests?state=PENDING", "#rows")
	if n := b.Count(`#bulk`); n != 0 {
		t.Error("a viewer is offered the bulk levers")
	}
	b.Go("/console/runs", "#pauses")
	if n := b.Count(`#pauses form`); n != 0 {
		t.Errorf("a viewer is offered %d pause or resume forms", n)
	}
	b.Go("/console/files", "#files")
	if n := b.Count(`#upload-form`); n != 0 {
		t.Error("a viewer is offered the upload")
	}
	b.Go("/console/operators", "#error")
	if got := b.Text("#error"); got != "Your role, viewer, may not do this: it needs admin." {
		t.Errorf("a viewer on the Operators page: %q", got)
	}
	if n := b.Count(`#create-operator, #create-token`); n != 0 {
		t.Error("a viewer is offered the admin's forms")
	}
	if r, err := ops.Get(ctx, e.db, num); err != nil || r.State != "PENDING" || r.HeldAt != nil {
		t.Errorf("the request: %+v, %v", r, err)
	}

	// The admin again: disables dave, and gives the operator a new password, which
	// the page does not show back.
	b.Do(chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.CSS(`#login`)))
	b.SignIn("admin", "admin-password")
	b.Go("/console/operators", `tr[data-operator=dave] form[data-action=disable]`)
	b.Do(chromedp.Click(chromedp.CSS(`tr[data-operator=dave] form[data-action=disable] button`)))
	b.WaitText("#summary", "1 changed.")
	b.Do(chromedp.Click(chromedp.CSS(`#back`)), chromedp.WaitVisible(chromedp.CSS(`tr[data-operator=dave]`)))
	if got := b.Text(`tr[data-operator=dave]`); !strings.HasPrefix(got, "dave viewer disabled") || b.Count(`tr[data-operator=dave] form[data-action=disable]`) != 0 {
		t.Errorf("the disabled operator's row: %q", got)
	}
	b.Do(
		chromedp.SendKeys(chromedp.CSS(`tr[data-operator=operator] form[data-action=password] input[name=password]`), "a-new-password"),
		chromedp.Click(chromedp.CSS(`tr[data-operator=operator] form[data-action=password] button`)),
	)
	b.WaitText("#summary", "1 changed.")
	if got := b.Text("main"); strings.Contains(got, "a-new-password") || !strings.Contains(got, "with the password given") {
		t.Errorf("the new password's page: %q", got)
	}
	b.Screenshot("password-set")
	accounts, err = console.ListOperators(ctx, e.db)
	if err != nil || accounts[1].Name != "dave" || !accounts[1].Disabled {
		t.Errorf("dave after disable: %+v, %v", accounts, err)
	}
	audit, err := ops.ListAudit(ctx, e.db, ops.AuditFilter{Operator: "admin", Limit: 2})
	if err != nil || len(audit) != 2 || audit[0].Action != ops.ActionOperatorPassword || audit[1].Action != ops.ActionOperatorDisable {
		t.Errorf("audit: %+v, %v", audit, err)
	}

	// dave is refused; the operator signs in with its new password.
	b.Do(chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.CSS(`#login`)))
	b.Do(
		chromedp.SendKeys(chromedp.CSS(`#login input[name=username]`), "dave"),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=password]`), pw),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
	)
	b.WaitText("#error", "wrong name or password")
	b.SignIn("operator", "a-new-password")
	b.WaitText("#who", "operator (operator)")
}
