package cli_test

import (
	"net"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/cli"
	"github.com/provisioner/provisioner/internal/pgtest"
)

// TestProcessGatewayDown (issue 16, 0.1): with the gateway unreachable (a closed
// port: connection refused), ten `provisioner process` runs with the most eager
// settings (one attempt, no minimum age) each exit 1 with their run FAILED, and
// reject nothing: the request stays PENDING with no attempt counted, and `requests
// show` lists each try as refused.
func TestProcessGatewayDown(t *testing.T) {
	db, dsn := pgtest.New(t)
	pgtest.Request(t, db, pgtest.RequestOpts{Type: "RESET_PIN", Smartcard: "1000000001"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	vars := map[string]string{"DATABASE_URL": dsn, "CAS_GATEWAY_URL": down, "CAS_GATEWAY_TOKEN": "tok", "CAS_DESTINATION_ID": "CRM01"}
	const runs = 10
	for i := 1; i <= runs; i++ {
		r := runCLI(t, vars, "process", "--max-attempts", "1", "--max-attempts-age", "0")
		if r.code != cli.ExitFailed || !strings.Contains(r.stderr, "gateway unreachable") {
			t.Fatalf("run %d: exit %d\n%s%s", i, r.code, r.stdout, r.stderr)
		}
	}
	var failed int
	if err := db.Get(&failed, `SELECT count(*) FROM processes WHERE state = 'FAILED'`); err != nil {
		t.Fatal(err)
	}
	var state string
	var attempts int
	if err := db.QueryRow(`SELECT life_cycle_state, attempts FROM provisioning_requests`).Scan(&state, &attempts); err != nil {
		t.Fatal(err)
	}
	if failed != runs || state != "PENDING" || attempts != 0 {
		t.Errorf("after %d runs: %d FAILED runs, request %s with %d attempts; want %d FAILED, PENDING, 0", runs, failed, state, attempts, runs)
	}
	r := runCLI(t, vars, "requests", "show", "1")
	if r.code != 0 || strings.Count(r.stdout, " refused ") != runs || !strings.Contains(r.stdout, "sends (10):") {
		t.Errorf("requests show: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
