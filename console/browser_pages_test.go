package console_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/ops"
)

// TestBrowserBulkRetry: an operator filters the rejected requests of one error
// code, reviews the bulk retry's confirmation page (count and sample), confirms, and
// sees what was retried; recorded under its name.
func TestBrowserBulkRetry(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	var opts []pgtest.RequestOpts
	for i := 0; i < 3; i++ {
		opts = append(opts, pgtest.RequestOpts{Smartcard: fmt.Sprintf("R%d", i), State: "REJECTED", ErrorCode: pgtest.Ptr("E_BUSY")})
	}
	opts = append(opts, pgtest.RequestOpts{Smartcard: "N1", State: "REJECTED", ErrorCode: pgtest.Ptr("E_NOT_PAIRED")})
	nums := pgtest.Requests(t, e.db, opts...)
	b := e.chromium(t, "operator")

	b.Go("/console/requests", "#filters")
	b.Do(
		chromedp.SetValue(chromedp.CSS(`#filters select[name=state]`), "REJECTED"),
		chromedp.SendKeys(chromedp.CSS(`#filters input[name=error_code]`), "E_BUSY"),
		chromedp.Click(chromedp.CSS(`#filters button[type=submit]`)),
	)
	b.WaitText("#count", "3 requests match.")
	b.Do(
		chromedp.SetValue(chromedp.CSS(`#bulk select[name=lever]`), "retry"),
		chromedp.Click(chromedp.CSS(`#bulk button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
	)
	b.WaitText("#count", "3 requests match: 3 would be changed.")
	if n := b.Count(`#sample tr[data-number]`); n != 3 {
		t.Errorf("sample: %d rows", n)
	}
	if r, _ := ops.Get(ctx, e.db, nums[0]); r.State != "REJECTED" {
		t.Fatal("the confirmation page retried")
	}
	b.Screenshot("bulk-retry-confirmation")
	b.Do(chromedp.Click(chromedp.CSS(`#confirm button[type=submit]`)))
	b.WaitText("#summary", "3 changed.")
	b.Screenshot("bulk-retry-result")
	for i, n := range nums {
		r, err := ops.Get(ctx, e.db, n)
		want := "PENDING"
		if i == 3 {
			want = "REJECTED" // another error code: not matched
		}
		if err != nil || r.State != want {
			t.Errorf("request %d: %s, want %s (%v)", n, r.State, want, err)
		}
	}
	audit, err := ops.ListAudit(ctx, e.db, ops.AuditFilter{Operator: "operator", Action: ops.ActionRetry})
	if err != nil || len(audit) != 1 || audit[0].Touched != 3 {
		t.Errorf("audit: %+v, %v", audit, err)
	}
}

// TestBrowserUpload: an operator uploads a CSV file, sees its dry-run rejects (the
// PIN masked, nothing imported), and puts it into the inbox.
func TestBrowserUpload(t *testing.T) {
	e := newEnv(t, false)
	src := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(src, []byte(uploadCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	b := e.chromium(t, "operator")

	b.Go("/console/files", "#upload-form")
	b.Do(
		chromedp.SetUploadFiles(chromedp.CSS(`#upload-form input[name=file]`), []string{src}),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
	)
	b.WaitText("#verdict", "2 rows read: 0 would become requests, 2 would be rejected.")
	if got := b.Text("#rejects"); !strings.Contains(got, "SC-NOPE-1") || !strings.Contains(got, ops.MaskedPIN) || strings.Contains(got, "4321") {
		t.Errorf("rejects: %q", got)
	}
	if n := b.Count(`#rejects tr.reject`); n != 2 {
		t.Errorf("%d rejected rows shown", n)
	}
	b.Screenshot("upload-dry-run")
	if _, err := os.Stat(filepath.Join(e.inbox, "orders.csv")); !os.IsNotExist(err) {
		t.Fatalf("in the inbox before the confirmation: %v", err)
	}
	b.Do(chromedp.Click(chromedp.CSS(`#confirm button[type=submit]`)))
	b.WaitText("#summary", "1 changed.")
	b.Screenshot("upload-confirmed")
	if got, err := os.ReadFile(filepath.Join(e.inbox, "orders.csv")); err != nil || string(got) != uploadCSV {
		t.Errorf("the inbox's file: %q, %v", got, err)
	}
}
