package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/cli"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/simulator"
)

// TestTokensCommands issues, lists and revokes tokens the way an operator does.
func TestTokensCommands(t *testing.T) {
	_, dsn := pgtest.New(t)
	vars := map[string]string{"DATABASE_URL": dsn}
	r := runCLI(t, vars, "tokens", "create", "crm")
	token := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(token, "prov_") || len(token) != 5+43 || !strings.Contains(r.stderr, "shown this once") {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, vars, "tokens", "create", "crm"); r.code != cli.ExitFailed || !strings.Contains(r.stderr, "token crm: a live token has this name: revoke it first") {
		t.Errorf("create again: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(t, vars, "tokens", "list"); r.code != 0 || !strings.Contains(r.stdout, "crm   live") || strings.Contains(r.stdout, token) {
		t.Errorf("list: exit %d\n%s", r.code, r.stdout)
	}
	if r := runCLI(t, vars, "tokens", "revoke", "crm"); r.code != 0 || r.stdout != "token crm revoked\n" {
		t.Errorf("revoke: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, vars, "tokens", "revoke", "crm"); r.code != cli.ExitFailed || !strings.Contains(r.stderr, "token crm: no live token has this name") {
		t.Errorf("revoke again: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runCLI(t, vars, "tokens", "list"); r.code != 0 || !strings.Contains(r.stdout, "crm   revoked") {
		t.Errorf("list after revoke: exit %d\n%s", r.code, r.stdout)
	}
	usage := []struct {
		args []string
		want string
	}{
		{[]string{"tokens"}, "give create NAME, revoke NAME or list"},
		{[]string{"tokens", "issue", "x"}, `unknown tokens command "issue"`},
		{[]string{"tokens", "create"}, "tokens create takes 1 argument(s)"},
		{[]string{"tokens", "list", "x"}, "tokens list takes 0 argument(s)"},
		{[]string{"tokens", "create", "bad name"}, `token name "bad name": a token name is 1 to 64 characters`},
	}
	for _, u := range usage {
		if r := runCLI(t, vars, u.args...); r.code != cli.ExitUsage || !strings.Contains(r.stderr, u.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", u.args, r.code, r.stderr, u.want)
		}
	}
}

// TestServeUsage: configuration mistakes exit 2 before serving.
func TestServeUsage(t *testing.T) {
	_, dsn := pgtest.New(t)
	tests := []struct {
		vars map[string]string
		args []string
		want string
	}{
		{map[string]string{"DATABASE_URL": dsn}, []string{"serve", "x"}, `serve takes no arguments, got ["x"]`},
		{map[string]string{"DATABASE_URL": dsn, "CAS_GATEWAY_URL": "http://127.0.0.1:1"}, []string{"serve"}, "the gateway token is not set (CAS_GATEWAY_TOKEN)"},
		{map[string]string{"DATABASE_URL": dsn}, []string{"serve", "--listen", "127.0.0.1:http-ish"}, "--listen 127.0.0.1:http-ish:"},
		{map[string]string{"DATABASE_URL": dsn}, []string{"serve", "--max-body", "10"}, "--max-body 10: must be at least 1024"},
		{map[string]string{"DATABASE_URL": dsn}, []string{"serve", "--create-batch", "0"}, "--create-batch 0: must be 1 to 5461"},
		{map[string]string{"DATABASE_URL": dsn}, []string{"serve", "--create-batch", "5462"}, "--create-batch 5462: must be 1 to 5461"},
		{map[string]string{}, []string{"serve"}, "no database: set DATABASE_URL"},
	}
	for _, tt := range tests {
		if r := runCLI(t, tt.vars, tt.args...); r.code != cli.ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

// TestServe runs `provisioner serve` in-process against the simulator: it answers,
// and on SIGTERM (ctx cancelled) it finishes the call in flight, then exits 0.
func TestServe(t *testing.T) {
	_, dsn := pgtest.New(t)
	vars := map[string]string{"DATABASE_URL": dsn, "LOG_FORMAT": "json"}
	if r := runCLI(t, vars, "reference", "load", filepath.Join("..", "samples", "reference")); r.code != 0 {
		t.Fatalf("reference load: %d %s", r.code, r.stderr)
	}
	token := strings.TrimSpace(runCLI(t, vars, "tokens", "create", "crm").stdout)
	cards, stbs, products, err := reference.ReadKnown(filepath.Join("..", "samples", "reference"))
	if err != nil {
		t.Fatal(err)
	}
	// The gateway takes its time: the call is in flight when the signal comes.
	sim := simulator.New(simulator.Config{Token: "tok", DestinationID: "CRM01", Seed: 1, Faults: simulator.Faults{Latency: 700 * time.Millisecond}},
		simulator.Known{Smartcards: cards, STBs: stbs, Products: products})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	defer sim.Close()
	vars["CAS_GATEWAY_URL"], vars["CAS_GATEWAY_TOKEN"], vars["CAS_DESTINATION_ID"] = srv.URL, "tok", "CRM01"

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &testutil.Buffer{}
	env := cli.Env{Stdout: io.Discard, Stderr: stderr, Getenv: func(k string) string { return vars[k] }}
	exited := make(chan int, 1)
	go func() { exited <- cli.Main(ctx, env, []string{"serve", "--listen", "127.0.0.1:0"}) }()

	var addr string
	for deadline := time.Now().Add(time.Minute); addr == "" && time.Now().Before(deadline); {
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
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}

	type result struct {
		status int
		body   string
		err    error
	}
	answered := make(chan result, 1)
	go func() {
		body := `{"token": "` + token + `", "subscription_identifier": {"number": "S1004"}, "smartcard_ca_id": "1000000004", "process_immediately": true}`
		resp, err := http.Post("http://"+addr+"/nagravision/provisioning_requests/reset_pin", "application/json", strings.NewReader(body))
		if err != nil {
			answered <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- result{status: resp.StatusCode, body: string(b)}
	}()
	// The signal, once the gateway holds the batch.
	for deadline := time.Now().Add(time.Minute); sim.Stats().Batches == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	r := <-answered
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"life_cycle_state": "COMPLETED"`) {
		t.Errorf("the call in flight at shutdown: %v %d %s", r.err, r.status, r.body)
	}
	select {
	case code := <-exited:
		if code != 0 || !strings.Contains(stderr.String(), "Web API stopped") {
			t.Errorf("serve exited %d:\n%s", code, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if strings.Contains(stderr.String(), token) {
		t.Errorf("the token is in the log")
	}
}
