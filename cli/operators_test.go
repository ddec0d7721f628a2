package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/cli"
	"github.com/provisioner/provisioner/console"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
	"github.com/provisioner/provisioner/ops"
)

func runWithStdin(t *testing.T, vars map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env := cli.Env{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(stdin), Getenv: func(k string) string { return vars[k] }}
	code := cli.Main(context.Background(), env, args)
	return result{code, out.String(), errOut.String()}
}

// TestOperatorsCommands: create (password generated, or from stdin), list, password,
// disable, each audited; the password is kept hashed only; and the mistakes.
func TestOperatorsCommands(t *testing.T) {
	console.BcryptCost = 4 // bcrypt.MinCost: the cost is not what this tests
	db, dsn := pgtest.New(t)
	ctx := context.Background()
	vars := map[string]string{"DATABASE_URL": dsn}
	r := runCLI(t, vars, "operators", "create", "alice", "--role", "admin", "--as", "root")
	pw := strings.TrimSpace(r.stdout)
	if r.code != 0 || len(pw) != 20 || !strings.Contains(r.stderr, "shown this once") {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if _, err := console.SignIn(ctx, db, "alice", pw, time.Now()); err != nil {
		t.Errorf("sign in with the generated password: %v", err)
	}
	if r := runWithStdin(t, vars, "bob-secret-1\n", "operators", "create", "bob", "--role", "viewer", "--password-stdin"); r.code != 0 || r.stdout != "operator bob: password set\n" {
		t.Fatalf("create from stdin: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	var hash string
	db.GetContext(ctx, &hash, "SELECT password_hash FROM operators WHERE name = 'bob'")
	if strings.Contains(hash, "bob-secret-1") || !strings.HasPrefix(hash, "$2a$") {
		t.Errorf("bob's hash: %q", hash)
	}
	if r := runWithStdin(t, vars, "bob-secret-2\n", "operators", "password", "bob", "--password-stdin"); r.code != 0 {
		t.Fatalf("password: exit %d %q", r.code, r.stderr)
	}
	if _, err := console.SignIn(ctx, db, "bob", "bob-secret-2", time.Now()); err != nil {
		t.Errorf("sign in with the new password: %v", err)
	}
	if r := runCLI(t, vars, "operators", "disable", "bob"); r.code != 0 || r.stdout != "operator bob disabled: its sessions are ended\n" {
		t.Fatalf("disable: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if _, err := console.SignIn(ctx, db, "bob", "bob-secret-2", time.Now()); err != console.ErrSignIn {
		t.Errorf("a disabled operator signs in: %v", err)
	}
	r = runCLI(t, vars, "operators", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "alice  admin   active") || !strings.Contains(r.stdout, "bob    viewer  disabled") || strings.Contains(r.stdout, "$2a$") {
		t.Errorf("list: exit %d\n%s", r.code, r.stdout)
	}
	audit, err := ops.ListAudit(ctx, db, ops.AuditFilter{})
	var got []string
	for _, a := range audit {
		got = append(got, a.Operator+" "+a.Action)
	}
	if err != nil || len(got) != 4 || got[3] != "root operators create" || got[0][strings.Index(got[0], " ")+1:] != "operators disable" {
		t.Errorf("audit: %v, %v", got, err)
	}
	for _, a := range audit {
		if strings.Contains(string(a.Filters), "secret") || strings.Contains(a.Command, "secret") {
			t.Errorf("a password in the audit trail: %+v", a)
		}
	}
	usage := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"operators"}, "give create NAME --role R, list, disable NAME or password NAME"},
		{"", []string{"operators", "add", "x"}, `unknown operators command "add"`},
		{"", []string{"operators", "create", "carol"}, "operators create needs --role"},
		{"", []string{"operators", "create", "carol", "--role", "boss"}, `role "boss": a role is viewer, operator or admin`},
		{"", []string{"operators", "create", "alice", "--role", "viewer"}, "operator alice: an operator has this name"},
		{"", []string{"operators", "create", "bad name", "--role", "viewer"}, `operator name "bad name"`},
		{"short\n", []string{"operators", "create", "carol", "--role", "viewer", "--password-stdin"}, "a password is 8 to 72 bytes"},
		{"", []string{"operators", "disable", "nobody"}, "operator nobody: no operator has this name"},
		{"", []string{"operators", "list", "x"}, "operators list takes 0 argument(s)"},
		{"", []string{"operators", "disable", "bob", "--role", "admin"}, "--role goes with create only"},
	}
	for _, u := range usage {
		if r := runWithStdin(t, vars, u.stdin, u.args...); r.code != cli.ExitUsage || !strings.Contains(r.stderr, u.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", u.args, r.code, r.stderr, u.want)
		}
	}
}

// TestServeConsole: serve answers /console/ beside the Web API, and leaves it out
// with --console=false.
func TestServeConsole(t *testing.T) {
	_, dsn := pgtest.New(t)
	vars := map[string]string{"DATABASE_URL": dsn, "LOG_FORMAT": "json"}
	for _, c := range []struct {
		flag   string
		status int
	}{{"--console=true", http.StatusOK}, {"--console=false", http.StatusNotFound}} {
		t.Run(c.flag, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			stderr := &testutil.Buffer{}
			env := cli.Env{Stdout: io.Discard, Stderr: stderr, Getenv: func(k string) string { return vars[k] }}
			exited := make(chan int, 1)
			go func() { exited <- cli.Main(ctx, env, []string{"serve", "--listen", "127.0.0.1:0", c.flag}) }()
			defer func() {
				cancel()
				<-exited
			}()
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
			resp, err := http.Get("http://" + addr + "/console/login")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("/console/login: %d, want %d", resp.StatusCode, c.status)
			}
			if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != 200 {
				t.Errorf("healthz beside the console: %v %v", resp, err)
			}
		})
	}
}
