package cli_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/simulator"
)

// TestReconcileCommand: the command end to end against the simulator over HTTP:
// over --max-corrections it exits 3 naming the figure and creates nothing; --force
// creates the corrections and --process sends them; the next run finds no drift.
func TestReconcileCommand(t *testing.T) {
	fleet := filepath.Join("..", "reconcile", "testdata", "fleet")
	dsn := pgtest.NewURL(t)
	vars := map[string]string{"DATABASE_URL": dsn, "CAS_GATEWAY_TOKEN": "tok", "CAS_DESTINATION_ID": "CRM01"}
	if r := runCLI(t, vars, "reference", "load", fleet); r.code != 0 {
		t.Fatalf("reference load: %d %s", r.code, r.stderr)
	}
	var known simulator.Known
	var err error
	if known.Smartcards, known.STBs, known.Products, err = reference.ReadKnown(fleet); err != nil {
		t.Fatal(err)
	}
	if known.Entitled, err = reference.ReadEntitled(fleet); err != nil {
		t.Fatal(err)
	}
	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1}, known)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	vars["CAS_GATEWAY_URL"] = srv.URL
	if err := sim.MakeDrift("1000000001", simulator.Drift{Remove: []string{"P-1002"}}); err != nil {
		t.Fatal(err)
	}
	reports := filepath.Join(t.TempDir(), "reports")
	cards := filepath.Join(t.TempDir(), "cards.txt")
	if err := os.WriteFile(cards, []byte("smartcard_serial_number\nSC01\n\n# the suspended one\nSC13\nSC12\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--all", "--dry-run"}, 3, "checked 14, in sync 12, drifted 2"},
		{[]string{"--all"}, 3, "corrections would touch 2 of the 14 cards checked (14.29%), more than --max-corrections 5.00%"},
		{[]string{"--file", cards, "--max-corrections", "100%", "--dry-run"}, 0, "checked 3, in sync 1, drifted 2"},
		{[]string{"--all", "--force", "--process"}, 0, "claimed 2, completed 2"},
		{[]string{"--all"}, 0, "checked 14, in sync 14, drifted 0"},
		{[]string{"--all", "--smartcard", "SC01"}, 2, "give one scope"},
		{[]string{"--subscription", "S99"}, 2, "no such subscription"},
		{[]string{"--all", "--max-corrections", "120%"}, 2, "must be a percentage from 0 to 100"},
		{[]string{"--all", "--priority", "URGENT"}, 2, "must be REGULAR or EXPRESS"},
	}
	for _, s := range steps {
		r := runCLI(t, vars, append([]string{"reconcile", "--reports", reports}, s.args...)...)
		if r.code != s.code || !strings.Contains(r.stdout+r.stderr, s.want) {
			t.Errorf("reconcile %v: exit %d, want %d with %q:\n%s%s", s.args, r.code, s.code, s.want, r.stdout, r.stderr)
		}
	}
	// One report per run that started: the first five; status lists them.
	entries, err := os.ReadDir(reports)
	if err != nil || len(entries) != 5 {
		t.Fatalf("reports: %d files, %v", len(entries), err)
	}
	r := runCLI(t, vars, "status")
	for _, want := range []string{"Last reconciliations", "5 SUCCEEDED, all", "2 CAPPED, all", "1 CAPPED (dry run), all", "corrections 2\n",
		"    report " + filepath.Join(reports, entries[len(entries)-1].Name())} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestRunReconcileJob: the reconcile job through the run ledger: over
// max_corrections it is REJECTED (exit 3) and creates nothing; with process = true
// and a cap it passes, it creates the corrections and sends them.
func TestRunReconcileJob(t *testing.T) {
	fleet := filepath.Join("..", "reconcile", "testdata", "fleet")
	dsn := pgtest.NewURL(t)
	vars := map[string]string{"DATABASE_URL": dsn, "CAS_GATEWAY_TOKEN": "tok", "CAS_DESTINATION_ID": "CRM01"}
	if r := runCLI(t, vars, "reference", "load", fleet); r.code != 0 {
		t.Fatalf("reference load: %d %s", r.code, r.stderr)
	}
	var known simulator.Known
	var err error
	if known.Smartcards, known.STBs, known.Products, err = reference.ReadKnown(fleet); err != nil {
		t.Fatal(err)
	}
	if known.Entitled, err = reference.ReadEntitled(fleet); err != nil {
		t.Fatal(err)
	}
	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1}, known)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); srv.Close() })
	vars["CAS_GATEWAY_URL"] = srv.URL
	reports := filepath.Join(t.TempDir(), "reports")
	conf := func(extra string) string {
		path := filepath.Join(t.TempDir(), "p.toml")
		body := "[jobs.reconcile]\nreports = \"" + reports + "\"\n" + extra
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// SC13's subscription is suspended: 1 card of 14 to correct, 7%.
	r := runCLI(t, vars, "run", "reconcile", "--config", conf(""))
	if r.code != 3 || !strings.Contains(r.stdout, "reconcile run 1: REJECTED") || !strings.Contains(r.stdout, "more than --max-corrections 5.00%") {
		t.Errorf("capped: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, vars, "run", "reconcile", "--config", conf("max_corrections = \"10%\"\nprocess = true\npriority = \"express\"\n"))
	if r.code != 0 || !strings.Contains(r.stdout, "created 1 corrections") || !strings.Contains(r.stdout, "completed 1") {
		t.Errorf("passed: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, vars, "run", "reconcile", "--config", conf("max_corrections = \"5\"\n")); r.code != 0 || !strings.Contains(r.stdout, "in sync 14, drifted 0") {
		t.Errorf("after: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, vars, "run", "reconcile", "--config", conf("max_corrections = 5\n")); r.code != 2 || !strings.Contains(r.stderr, `a percentage as a string ("5%")`) {
		t.Errorf("bad setting: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
