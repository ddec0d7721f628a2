package cli_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/cli"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/samplegen"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

// staleBound is how long the import and the processing run below may take together.
// They take a few seconds; before the fix the first claim alone took minutes on
// statistics that predate the import (issue 15). Generous, for a busy machine.
const staleBound = 2 * time.Minute

// TestStaleStatistics is issue 15's reproduction at test size, as an operator meets
// it: a database holding settled history, analysed; a 20,000-row file imported with
// its process_immediately rows sent at once; then a processing run. Every request
// that is due must be settled, within staleBound.
func TestStaleStatistics(t *testing.T) {
	dir := t.TempDir()
	gen, err := samplegen.Generate(dir, samplegen.Config{Rows: 20000, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if gen.ProcessImmediately == 0 {
		t.Fatal("the generated file has no process_immediately rows")
	}
	dsn := pgtest.NewURL(t)
	vars := map[string]string{"DATABASE_URL": dsn, "LOG_FORMAT": "json"}
	refDir := filepath.Join(dir, samplegen.ReferenceDir)
	if r := runCLI(t, vars, "reference", "load", refDir); r.code != 0 {
		t.Fatalf("reference load: exit %d\n%s", r.code, r.stderr)
	}
	db, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The history: 2,000 settled requests, and statistics that know only them.
	if _, err := db.Exec(`INSERT INTO provisioning_requests (type, life_cycle_state, smartcard_ca_id, executed_date)
	        SELECT 'RESET_PIN', 'COMPLETED', ca_id, now() - interval '1 day'
	        FROM installed_items WHERE kind = 'SMARTCARD' ORDER BY id LIMIT 2000`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("ANALYZE provisioning_requests"); err != nil {
		t.Fatal(err)
	}

	cards, stbs, products, err := reference.ReadKnown(refDir)
	if err != nil {
		t.Fatal(err)
	}
	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1},
		simulator.Known{Smartcards: cards, STBs: stbs, Products: products})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	vars["CAS_GATEWAY_URL"], vars["CAS_GATEWAY_TOKEN"], vars["CAS_DESTINATION_ID"] = srv.URL, "tok", "CRM01"

	start := time.Now()
	r := runCLI(t, vars, "import", "--rejects", t.TempDir(), filepath.Join(dir, samplegen.InstructionsFile))
	imported := time.Since(start)
	if r.code != 0 && r.code != cli.ExitRejected {
		t.Fatalf("import: exit %d\n%s", r.code, r.stderr)
	}
	// The import's transaction refreshed the statistics (a sample of the claim's
	// columns, sql/queries/analyze_requests.sql): what the run below is planned on.
	if !strings.Contains(r.stderr, "planner statistics were stale") {
		t.Errorf("the import did not refresh the planner statistics\n%s", r.stderr)
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.Get(&n, q); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM provisioning_requests WHERE process_immediately AND life_cycle_state <> 'PENDING'`); n == 0 {
		t.Errorf("the import's immediate send settled none of the %d process_immediately requests\n%s", gen.ProcessImmediately, r.stderr)
	}
	r = runCLI(t, vars, "process")
	took := time.Since(start)
	if r.code != 0 && r.code != cli.ExitRejected {
		t.Fatalf("process: exit %d\n%s", r.code, r.stderr)
	}
	// What the run could send is sent: no due request is left at the head of its
	// card's queue (those behind a request scheduled for later wait, as they must).
	if n := count(`SELECT count(*) FROM provisioning_requests r
	        WHERE r.life_cycle_state = 'PENDING' AND r.scheduled_date <= now()
	          AND NOT EXISTS (SELECT 1 FROM provisioning_requests p WHERE p.smartcard_ca_id = r.smartcard_ca_id
	                          AND p.life_cycle_state = 'PENDING' AND p.sequence_number < r.sequence_number)`); n != 0 {
		t.Errorf("%d due requests at the head of their card's queue still PENDING after the processing run\n%s", n, r.stderr)
	}
	if n := count(`SELECT count(*) FROM provisioning_requests WHERE life_cycle_state <> 'PENDING' AND executed_date > now() - interval '1 hour'`); n < 15000 {
		t.Errorf("only %d requests settled by the import and the processing run", n)
	}
	if took > staleBound {
		t.Errorf("import and processing run took %v (the import %v), more than %v", took.Round(time.Millisecond), imported.Round(time.Millisecond), staleBound)
	}
	t.Logf("import %v, import and processing run %v", imported.Round(time.Millisecond), took.Round(time.Millisecond))
}
