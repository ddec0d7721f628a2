package cli

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestConfigureDatabase: with a configuration file, a command's database is the
// file's database.url and its statement timeout the file's
// database.statement_timeout, unless the environment or --database-url says
// otherwise.
func TestConfigureDatabase(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(file, []byte("[database]\nurl = \"postgres://file@127.0.0.1/db\"\nstatement_timeout = \"7s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		args    []string
		vars    map[string]string
		url     string
		timeout time.Duration
	}{
		{"--config", []string{"--config", file}, nil, "postgres://file@127.0.0.1/db", 7 * time.Second},
		{"PROVISIONER_CONFIG", nil, map[string]string{"PROVISIONER_CONFIG": file}, "postgres://file@127.0.0.1/db", 7 * time.Second},
		{"the environment first", []string{"--config", file},
			map[string]string{"DATABASE_URL": "postgres://env@127.0.0.1/db", "DATABASE_STATEMENT_TIMEOUT": "2s"}, "postgres://env@127.0.0.1/db", 2 * time.Second},
		{"the flag first", []string{"--config", file, "--database-url", "postgres://flag@127.0.0.1/db"}, nil, "postgres://flag@127.0.0.1/db", 7 * time.Second},
		{"no file", nil, map[string]string{"DATABASE_URL": "postgres://env@127.0.0.1/db"}, "postgres://env@127.0.0.1/db", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return tc.vars[k] }}
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			dbf := addDBFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			env, _, err := dbf.configure(env)
			if err != nil {
				t.Fatal(err)
			}
			url, err := databaseURL(env, dbf.url)
			if err != nil || url != tc.url {
				t.Errorf("database %q, %v; want %q", url, err, tc.url)
			}
			opts, err := dbOptions(env)
			if err != nil || opts.StatementTimeout != tc.timeout {
				t.Errorf("statement timeout %v, %v; want %v", opts.StatementTimeout, err, tc.timeout)
			}
			if (dbf.cfg != nil) != (tc.name != "no file") {
				t.Errorf("configuration read: %v", dbf.cfg != nil)
			}
		})
	}
}
