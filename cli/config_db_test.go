package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/provisioner/provisioner/internal/pgtest"
)

// TestConfigDatabase: every command that uses the database finds it in the
// configuration file, given with --config or PROVISIONER_CONFIG, as scheduler and
// run do; the environment has no DATABASE_URL.
func TestConfigDatabase(t *testing.T) {
	_, dsn := pgtest.New(t)
	file := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(file, []byte("[database]\nurl = \""+dsn+"\"\nstatement_timeout = \"20s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"status"}, "Requests: 0 (PENDING 0, COMPLETED 0, REJECTED 0)"},
		{[]string{"status", "--json"}, `"requests": {`},
		{[]string{"requests", "list"}, "(0 requests)"},
		{[]string{"tokens", "list"}, "NAME"},
		{[]string{"migrate"}, ""},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			for _, how := range []string{"--config", "PROVISIONER_CONFIG"} {
				args, vars := append(tc.args[:len(tc.args):len(tc.args)], "--config", file), map[string]string{}
				if how == "PROVISIONER_CONFIG" {
					args, vars = tc.args, map[string]string{"PROVISIONER_CONFIG": file}
				}
				r := runCLI(t, vars, args...)
				if r.code != 0 || !strings.Contains(r.stdout, tc.want) {
					t.Errorf("%s: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 0 and %q", how, r.code, r.stdout, r.stderr, tc.want)
				}
			}
		})
	}
	// A mistake in the file is named, before the database is touched.
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[database]\nstatement_timeout = \"soon\"\n"), 0o600)
	r := runCLI(t, nil, "requests", "show", "--config", bad, "1")
	if r.code != 2 || !strings.Contains(r.stderr, "database.statement_timeout") {
		t.Errorf("bad file: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
