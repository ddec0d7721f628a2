package cli_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/cli"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/simulator"
)

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	return runCLIWith(t, vars, nil, args...)
}

func runCLIWith(t *testing.T, vars map[string]string, now func() time.Time, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env := cli.Env{
		Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return vars[k] },
		Now:    now,
	}
	code := cli.Main(context.Background(), env, args)
	return result{code, out.String(), errOut.String()}
}

// TestUsageErrors: bad usage and configuration exit 2 with a message naming the
// problem, before anything is touched.
func TestUsageErrors(t *testing.T) {
	noDB := map[string]string{}
	withDB := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"}
	cases := []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"no command", noDB, nil, "usage: provisioner COMMAND"},
		{"unknown command", noDB, []string{"imprt"}, `unknown command "imprt"`},
		{"unknown flag", noDB, []string{"import", "--inbx", "x"}, "flag provided but not defined: -inbx"},
		{"unknown flag after a file", noDB, []string{"import", "f.csv", "--inbx", "x"}, "flag provided but not defined: -inbx"},
		{"run: two jobs", noDB, []string{"run", "import", "--config", "x.toml", "process"}, `run takes one job, got ["import" "process"]`},
		{"no input", withDB, []string{"import"}, "give --inbox DIR or at least one FILE"},
		{"both inputs", withDB, []string{"import", "--inbox", "x", "f.csv"}, "not both"},
		{"bad settle", withDB, []string{"import", "--settle", "-1s", "--inbox", "x"}, "--settle -1s: must not be negative"},
		{"bad duration", withDB, []string{"import", "--settle", "soon", "--inbox", "x"}, `invalid value "soon" for flag -settle`},
		{"no database", noDB, []string{"import", "f.csv"}, "no database: set DATABASE_URL"},
		{"bad log format", withDB, []string{"import", "f.csv"}, ""},
		{"reference without load", withDB, []string{"reference", "DIR"}, "usage: provisioner reference load"},
		{"process without gateway", withDB, []string{"process"}, "the gateway URL is not set (CAS_GATEWAY_URL)"},
		{"process bad batch", map[string]string{"DATABASE_URL": "x", "CAS_GATEWAY_URL": "http://127.0.0.1:1", "CAS_GATEWAY_TOKEN": "t", "CAS_DESTINATION_ID": "d"},
			[]string{"process", "--batch-size", "501"}, "batch size 501: must be 1 to 500"},
		{"process bad url", map[string]string{"DATABASE_URL": "x", "CAS_GATEWAY_URL": "ftp://gw", "CAS_GATEWAY_TOKEN": "t", "CAS_DESTINATION_ID": "d"},
			[]string{"process"}, `the gateway URL "ftp://gw" is not an http(s) URL`},
	}
	for _, tc := range cases {
		if tc.name == "bad log format" {
			tc.vars = map[string]string{"DATABASE_URL": "x", "LOG_FORMAT": "xml"}
			tc.want = `LOG_FORMAT="xml": expected text or json`
		}
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.vars, tc.args...)
			if r.code != cli.ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

// TestExitCodes runs the commands on a real database and the simulator: 0 when all
// went through, 3 when rows, files or requests were rejected, 1 when a file is gone.
func TestExitCodes(t *testing.T) {
	dsn := pgtest.NewURL(t)
	vars := map[string]string{"DATABASE_URL": dsn}

	if r := runCLI(t, vars, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, vars, "reference", "load", filepath.Join("..", "samples", "reference")); r.code != 0 {
		t.Fatalf("reference load: %d %s", r.code, r.stderr)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "smartcards.csv"), []byte("serial_number,ca_id\nX,\n"), 0o644)
	if r := runCLI(t, vars, "reference", "load", bad); r.code != cli.ExitRejected || !strings.Contains(r.stdout, "smartcards.csv:2: ca_id: is required") {
		t.Errorf("bad reference: exit %d, stdout %q", r.code, r.stdout)
	}

	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1}, mustKnown(t))
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	vars["CAS_GATEWAY_URL"], vars["CAS_GATEWAY_TOKEN"], vars["CAS_DESTINATION_ID"] = srv.URL, "tok", "CRM01"

	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte("action,subscription_number,smartcard_serial_number,services,process_immediately\nadd_services,S1001,SC0000000001,SPORTS,true\n"), 0o644)
	r := runCLI(t, vars, "import", good)
	if r.code != 0 || !strings.Contains(r.stdout, "good.csv  IMPORTED  1     1        0") {
		t.Errorf("good file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// process_immediately: sent at once.
	if st := sim.Stats(); st.Applied != 1 {
		t.Errorf("the process_immediately request was not sent: applied %d", st.Applied)
	}
	if r := runCLI(t, vars, "import", good); r.code != 0 || !strings.Contains(r.stdout, "DUPLICATE") {
		t.Errorf("same file again: exit %d\n%s", r.code, r.stdout)
	}
	mixed := filepath.Join(dir, "mixed.csv")
	os.WriteFile(mixed, []byte("action,subscription_number,smartcard_serial_number,stb_serial_number\npair_smartcard_decoder,,SC0000000004,\nreset_pin,S1005,SC0000000005,STB-0001\n"), 0o644)
	if r := runCLI(t, vars, "import", "--rejects", dir, mixed); r.code != cli.ExitRejected || !strings.Contains(r.stderr, "1 row and 0 files rejected") {
		t.Errorf("file with a bad row: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "mixed.rejects.csv")); err != nil {
		t.Errorf("no rejects file: %v", err)
	}
	// Flags after the file (issue 16, item 7): --rejects is read as a flag, not a file.
	after, rejectsDir := filepath.Join(dir, "after.csv"), t.TempDir()
	os.WriteFile(after, []byte("action,subscription_number,smartcard_serial_number\nreset_pin,S1006,SC0000000006\nreset_pin,,SC0000000004\n"), 0o644)
	if r := runCLI(t, vars, "import", after, "--rejects", rejectsDir); r.code != cli.ExitRejected || !strings.Contains(r.stderr, "1 row and 0 files rejected") {
		t.Errorf("file, then --rejects: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(rejectsDir, "after.rejects.csv")); err != nil {
		t.Errorf("--rejects after the file: no rejects file there: %v", err)
	}
	refused := filepath.Join(dir, "refused.csv")
	os.WriteFile(refused, []byte("acton,pin\n"), 0o644)
	if r := runCLI(t, vars, "import", refused); r.code != cli.ExitRejected || !strings.Contains(r.stdout, `unknown column "acton" (did you mean "action"?)`) {
		t.Errorf("refused file: exit %d\n%s", r.code, r.stdout)
	}
	// The UNPAIR of a card that is not paired is rejected by the gateway: exit 3.
	if r := runCLI(t, vars, "process"); r.code != cli.ExitRejected || !strings.Contains(r.stdout, "claimed 2, completed 1, rejected 1") {
		t.Errorf("process: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, vars, "process"); r.code != 0 || !strings.Contains(r.stdout, "claimed 0") {
		t.Errorf("process with nothing to do: exit %d\n%s", r.code, r.stdout)
	}
	if r := runCLI(t, vars, "import", filepath.Join(dir, "missing.csv")); r.code != cli.ExitFailed || !strings.Contains(r.stderr, "missing.csv") {
		t.Errorf("missing file: exit %d\n%s", r.code, r.stderr)
	}
}

// TestSchemaMissing: a database without the schema is a set-up problem (exit 2) that
// names the fix.
func TestSchemaMissing(t *testing.T) {
	db, dsn := pgtest.New(t)
	if _, err := db.Exec("DROP TABLE schema_migrations"); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, map[string]string{"DATABASE_URL": dsn}, "import", "x.csv")
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "run `provisioner migrate` first") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := db.Exec("CREATE TABLE schema_migrations (version bigint, dirty boolean); INSERT INTO schema_migrations VALUES (1, false)"); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, map[string]string{"DATABASE_URL": dsn}, "import", "x.csv")
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "is at version 1, this provisioner needs") {
		t.Errorf("old schema: exit %d, stderr %q", r.code, r.stderr)
	}
}

func mustKnown(t *testing.T) simulator.Known {
	t.Helper()
	cards, stbs, products, err := reference.ReadKnown(filepath.Join("..", "samples", "reference"))
	if err != nil {
		t.Fatal(err)
	}
	return simulator.Known{Smartcards: cards, STBs: stbs, Products: products}
}
