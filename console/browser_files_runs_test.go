package console_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/ops"
)

// TestBrowserFiles: the Files page lists an import with its counts and a file
// refused whole with its reason; a file's page shows its rejected rows (the PIN
// masked), and its download link saves them, masked too, through the browser.
func TestBrowserFiles(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	for name, content := range map[string]string{"orders.csv": uploadCSV, "broken.csv": "nonsense,columns\n1,2\n"} {
		if err := os.WriteFile(filepath.Join(e.inbox, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	if _, err := importer.New(e.db, log, importer.Options{}).ImportInbox(ctx, e.inbox, 0); err != nil {
		t.Fatal(err)
	}
	failed, err := ops.ImportFiles(ctx, e.db, "FAILED", 0, 10)
	if err != nil || len(failed) != 1 || failed[0].Error == "" {
		t.Fatalf("the failed import: %+v, %v", failed, err)
	}
	imported, err := ops.ImportFiles(ctx, e.db, "IMPORTED", 0, 10)
	if err != nil || len(imported) != 1 {
		t.Fatalf("the import: %+v, %v", imported, err)
	}
	orders, broken := imported[0], failed[0]
	b := e.chromium(t, "viewer")

	b.Go("/console/files", "#files")
	if got := b.Text(fmt.Sprintf(`#files tr[data-file="%d"]`, orders.ID)); !strings.Contains(got, "IMPORTED 2 0 2") {
		t.Errorf("the import's row: %q", got)
	}
	if got := b.Text(fmt.Sprintf(`#failed tr[data-file="%d"]`, broken.ID)); !strings.Contains(got, broken.Error) {
		t.Errorf("the refused file's row: %q, want its reason %q", got, broken.Error)
	}
	b.Screenshot("files")

	b.Do(
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#files tr[data-file="%d"] a`, orders.ID))),
		chromedp.WaitVisible(chromedp.CSS(`#rejects`)),
	)
	b.WaitText(`#fields td[data-field="rejected"]`, "2")
	if n := b.Count(`#rejects tr.reject`); n != 2 {
		t.Errorf("%d rejected rows shown, want 2", n)
	}
	if got := b.Text("#rejects"); !strings.Contains(got, "SC-NOPE-1") || !strings.Contains(got, ops.MaskedPIN) || strings.Contains(got, "4321") {
		t.Errorf("the rejects shown: %q", got)
	}
	b.Screenshot("rejects")
	name, content := b.Download("#download")
	// The import's name is the file's, stamped when it was taken from the inbox.
	if want := strings.TrimSuffix(orders.Name, ".csv") + ".rejects.csv"; name != want || !strings.HasPrefix(name, "orders.") || !strings.Contains(string(content), "set_pin,SC-NOPE-1,****,UP-1,") ||
		!strings.Contains(string(content), "reset_smartcard,SC-NOPE-2,,UP-2,") || strings.Contains(string(content), "4321") {
		t.Errorf("downloaded %q:\n%s", name, content)
	}

	b.Go("/console/files", "#failed")
	b.Do(
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#failed tr[data-file="%d"] a`, broken.ID))),
		chromedp.WaitVisible(chromedp.CSS(`#fields td[data-field="error"]`)),
	)
	b.WaitText(`#fields td[data-field="state"]`, "FAILED")
	if got := b.Text(`#fields td[data-field="error"]`); got != strings.Join(strings.Fields(broken.Error), " ") {
		t.Errorf("the refused file's reason: %q, want %q", got, broken.Error)
	}
}

// TestBrowserRuns: the Runs page lists the processing runs and the run ledger,
// filtered by job; an operator pauses a job there with a reason, sees it paused
// on coming back, and resumes it.
func TestBrowserRuns(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	e.db.MustExec(`INSERT INTO processes (name, host, pid, state, claimed, completed, rejected, batches, started_at, finished_at)
		SELECT 'PROVISIONING_REQUEST_PROCESSING_RUN', 'h1', g, 'SUCCEEDED', 10, 8, 2, 3, now() - interval '1 hour', now() - interval '1 hour' + interval '90 seconds'
		FROM generate_series(1, 3) g`)
	e.db.MustExec(`INSERT INTO job_runs (job, tick, trigger, instance, state, started_at, finished_at, counts, error) VALUES
		('import', now() - interval '2 hours', 'SCHEDULE', 'h1:1', 'SUCCEEDED', now() - interval '2 hours', now() - interval '2 hours' + interval '3 seconds', '{"files": 2}', NULL),
		('process', now() - interval '1 hour', 'MANUAL', 'h1:2', 'FAILED', now() - interval '1 hour', now() - interval '1 hour', '{}', 'gateway unreachable')`)
	b := e.chromium(t, "operator")

	b.Go("/console/runs", "#processes")
	if n := b.Count(`#processes tr[data-run]`); n != 3 {
		t.Errorf("%d processing runs shown, want 3", n)
	}
	if got := b.Text(`#processes tr[data-run]`); !strings.Contains(got, "SUCCEEDED 10 8 2 0 3") || !strings.Contains(got, "1m30s") {
		t.Errorf("a processing run: %q", got)
	}
	if n := b.Count(`#ledger tr[data-job-run]`); n != 2 {
		t.Errorf("%d runs in the ledger, want 2", n)
	}
	b.Do(
		chromedp.SetValue(chromedp.CSS(`#ledger select[name=job]`), "process"),
		chromedp.Click(chromedp.CSS(`#ledger button[type=submit]`)),
		chromedp.WaitReady(chromedp.CSS(`#ledger option[selected]`)), // the filtered page
	)
	if n := b.Count(`#ledger tr[data-job-run]`); n != 1 {
		t.Errorf("%d runs of process in the ledger, want 1", n)
	}
	if got := b.Text(`#ledger tr[data-job-run]`); !strings.Contains(got, "process MANUAL") || !strings.Contains(got, "FAILED") || !strings.Contains(got, "gateway unreachable") {
		t.Errorf("the process job's run: %q", got)
	}
	b.Screenshot("runs")

	b.Do(
		chromedp.SendKeys(chromedp.CSS(`form[data-pause=import] input[name=reason]`), "disk full"),
		chromedp.Click(chromedp.CSS(`form[data-pause=import] button`)),
	)
	b.WaitText("#summary", "1 changed.")
	if pz, err := ops.PauseOf(ctx, e.db, "import"); err != nil || pz == nil || pz.PausedBy != "operator" || pz.Reason != "disk full" {
		t.Fatalf("the import job's pause: %+v, %v", pz, err)
	}
	b.Do(chromedp.Click(chromedp.CSS(`#back`)), chromedp.WaitVisible(chromedp.CSS(`form[data-resume=import]`)))
	if got := b.Text(`tr[data-target=import]`); !strings.Contains(got, "paused by operator") || !strings.Contains(got, "disk full") {
		t.Errorf("the paused job's row: %q", got)
	}
	b.Screenshot("paused")
	b.Do(chromedp.Click(chromedp.CSS(`form[data-resume=import] button`)))
	b.WaitText("#summary", "1 changed.")
	if pz, err := ops.PauseOf(ctx, e.db, "import"); err != nil || pz != nil {
		t.Fatalf("still paused: %+v, %v", pz, err)
	}
	b.Do(chromedp.Click(chromedp.CSS(`#back`)), chromedp.WaitVisible(chromedp.CSS(`form[data-pause=import]`)))
	if got := b.Text(`tr[data-target=import]`); !strings.Contains(got, "running") {
		t.Errorf("the resumed job's row: %q", got)
	}
	audit, err := ops.ListAudit(ctx, e.db, ops.AuditFilter{Operator: "operator"})
	if err != nil || len(audit) != 2 || audit[0].Action != ops.ActionResume || audit[1].Action != ops.ActionPause {
		t.Errorf("audit: %+v, %v", audit, err)
	}
}
