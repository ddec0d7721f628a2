package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/cli"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
	"github.com/provisioner/provisioner/simulator"
	"github.com/provisioner/provisioner/store"
)

// TestUnderPgBouncer runs the commands end to end through a real PgBouncer in
// transaction pooling mode whose few server connections every client shares (issue
// 16), from `migrate` on an empty database on: no named prepared statement, session
// lock or session setting may outlive its transaction. Before the fix, `process` failed at its first write-back with
// `prepared statement "1" already exists` (42P05).
func TestUnderPgBouncer(t *testing.T) {
	direct := pgtest.NewEmptyURL(t) // migrated through the pooler
	dsn := pgtest.Bouncer(t, direct, 3)
	vars := map[string]string{"DATABASE_URL": dsn, "LOG_FORMAT": "json"}
	must := func(want []int, args ...string) result {
		t.Helper()
		r := runCLI(t, vars, args...)
		ok := false
		for _, w := range want {
			ok = ok || r.code == w
		}
		if !ok || strings.Contains(r.stderr, "prepared statement") {
			t.Fatalf("%s: exit %d, want %v\n%s%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
		}
		return r
	}
	if r := must([]int{0}, "migrate"); !strings.Contains(r.stderr, "schema migrated") {
		t.Errorf("migrate through the pooler did not migrate:\n%s", r.stderr)
	}
	must([]int{0}, "reference", "load", filepath.Join("..", "samples", "reference"))
	token := strings.TrimSpace(must([]int{0}, "tokens", "create", "crm").stdout)

	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1, Faults: simulator.Faults{Latency: 5 * time.Millisecond}}, mustKnown(t))
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	vars["CAS_GATEWAY_URL"], vars["CAS_GATEWAY_TOKEN"], vars["CAS_DESTINATION_ID"] = srv.URL, "tok", "CRM01"

	inbox := t.TempDir()
	for _, name := range []string{"2026-11-29-bulk.csv", "2026-11-29-express.csv"} {
		b, err := os.ReadFile(filepath.Join("..", "samples", "inbox", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(inbox, name), b, 0o644)
	}
	must([]int{0, 3}, "import", "--inbox", inbox, "--settle", "0s")
	// Many small batches at once, on connections that share three server ones.
	r := must([]int{0, 3}, "process", "--concurrency", "4", "--batch-size", "1")
	if !strings.Contains(r.stdout, "claimed") || strings.Contains(r.stdout, "claimed 0,") {
		t.Errorf("process claimed nothing:\n%s", r.stdout)
	}

	// The ledger's lock, through the pooler: run, then run again (the lock was
	// released, whichever server connection ran what).
	cfg := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[database]\nurl = %q\n[gateway]\nurl = %q\ndestination = \"CRM01\"\n[jobs.import]\ninbox = %q\nsettle = \"0\"\n", dsn, srv.URL, inbox)), 0o600)
	for _, job := range []string{"process", "import", "housekeeping", "process"} {
		r := must([]int{0, 3}, "run", job, "--config", cfg)
		if strings.Contains(r.stderr, "SKIPPED") || strings.Contains(r.stderr, "still running") {
			t.Errorf("run %s was skipped: its lock was not released through the pooler\n%s", job, r.stderr)
		}
	}
	// The scheduler: each job every second, through the pooler, until each has
	// finished twice; none may fail (a lock left on a server connection would have
	// every later run SKIPPED).
	schedCfg := filepath.Join(t.TempDir(), "s.toml")
	os.WriteFile(schedCfg, []byte(fmt.Sprintf("[database]\nurl = %q\n[gateway]\nurl = %q\ndestination = \"CRM01\"\n"+
		"[jobs.import]\ninbox = %q\nsettle = \"0\"\nschedule = \"* * * * * *\"\n[jobs.process]\nschedule = \"* * * * * *\"\n"+
		"[jobs.housekeeping]\nschedule = \"* * * * * *\"\n", dsn, srv.URL, inbox)), 0o600)
	sctx, scancel := context.WithCancel(context.Background())
	serr := &testutil.Buffer{}
	senv := cli.Env{Stdout: io.Discard, Stderr: serr, Getenv: func(k string) string { return vars[k] }}
	sexit := make(chan int, 1)
	go func() { sexit <- cli.Main(sctx, senv, []string{"scheduler", "--config", schedCfg}) }()
	db := mustOpen(t, direct)
	for deadline := time.Now().Add(60 * time.Second); ; {
		var jobsDone int
		if err := db.Get(&jobsDone, `SELECT count(*) FROM (SELECT job FROM job_runs WHERE trigger = 'SCHEDULE'
		        AND state IN ('SUCCEEDED', 'REJECTED') GROUP BY job HAVING count(*) >= 2) j`); err != nil {
			t.Fatal(err)
		}
		if jobsDone == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler's jobs did not each finish twice in 60s:\n%s", serr)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition
	}
	scancel()
	if code := <-sexit; code != 0 {
		t.Errorf("scheduler exited %d:\n%s", code, serr)
	}
	var failed []string
	db.Select(&failed, `SELECT job || ': ' || coalesce(error, '') FROM job_runs WHERE state = 'FAILED'`)
	if len(failed) > 0 {
		t.Errorf("runs FAILED through the pooler: %q", failed)
	}
	// No lock left behind on the pooler's server connections, nor lost by a run.
	var held int
	db.Get(&held, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if held > 0 || strings.Contains(serr.String(), "lock was lost") {
		t.Errorf("%d advisory locks left on server connections; log:\n%s", held, serr)
	}

	must([]int{0}, "status")
	must([]int{0}, "status", "--json")
	must([]int{0}, "requests", "list")
	must([]int{0}, "requests", "show", "1")

	// serve: a request sent at once (the API's own claim and write-back).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &testutil.Buffer{}
	env := cli.Env{Stdout: io.Discard, Stderr: stderr, Getenv: func(k string) string { return vars[k] }}
	exited := make(chan int, 1)
	go func() { exited <- cli.Main(ctx, env, []string{"serve", "--listen", "127.0.0.1:0"}) }()
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "serving the Web API" {
				addr = entry.Addr
			}
		}
		select {
		case code := <-exited:
			t.Fatalf("serve exited %d:\n%s", code, stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if addr == "" {
		t.Fatalf("serve did not start:\n%s", stderr)
	}
	for i := range 5 {
		body := `{"token": "` + token + `", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "process_immediately": true, "reference": "PGB-` + fmt.Sprint(i) + `"}`
		resp, err := http.Post("http://"+addr+"/nagravision/provisioning_requests/reset_pin", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"life_cycle_state": "COMPLETED"`) {
			t.Errorf("reset_pin through the pooler: %d %s", resp.StatusCode, b)
		}
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("serve exited %d:\n%s", code, stderr)
	}
}

func mustOpen(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
