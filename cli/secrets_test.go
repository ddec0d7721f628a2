package cli_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoPasswordInOutput: whatever form the database setting has, and whether the
// driver cannot parse it or cannot connect with it, no output of a failing command
// holds the password (issue 11, part 1).
func TestNoPasswordInOutput(t *testing.T) {
	const secret = "Hunter2Pw"
	dsns := map[string]string{
		"key=value, unreachable":    "host=127.0.0.1 port=1 connect_timeout=1 user=app password=" + secret + " sslmode=disable",
		"key=value, quoted":         "host=127.0.0.1 port=1 connect_timeout=1 password='" + secret + " x' sslmode=disable",
		"key=value, unquoted space": "host=127.0.0.1 port=1 password=my " + secret + " sslmode=disable",
		"key=value, open quote":     "host=127.0.0.1 port=1 password='" + secret,
		"url, %zz":                  "postgres://app:" + secret + "%zz@127.0.0.1:1/db?sslmode=disable",
		"url, unreachable":          "postgres://app:" + secret + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=1",
		"url, query password":       "postgres://app@127.0.0.1:1/db?sslmode=disable&connect_timeout=1&password=" + secret,
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{{"status"}, {"migrate"}, {"requests", "show", "1"}} {
				r := runCLI(t, map[string]string{"DATABASE_URL": dsn}, args...)
				if r.code == 0 {
					t.Errorf("%v: exit 0", args)
				}
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("%v shows the password:\n%s%s", args, r.stdout, r.stderr)
				}
			}
			// The same setting in a configuration file: config check names the
			// mistake without the password.
			cfg := filepath.Join(t.TempDir(), "p.toml")
			body := "[database]\nurl = " + tomlString(dsn) + "\n[jobs.process]\nschedule = \"@hourly\"\n"
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, nil, "config", "check", cfg)
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("config check shows the password:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

func tomlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// TestPINsMasked: no operator output shows a PIN, whether in the field or in the
// raw command sent (request 11 is a SET_PIN in flight with PIN 1234), and a
// settled SET_PIN keeps none (request 4's was erased when it was settled).
func TestPINsMasked(t *testing.T) {
	db, vars := opsDB(t)
	if _, err := db.Exec(`UPDATE provisioning_requests SET request = '{"command_id":"11","type":"SET_PIN","smartcard":"1000000001","pin":"1234"}' WHERE number = 11`); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"requests", "show", "11"}, {"requests", "show", "--json", "11"},
		{"requests", "list", "--limit", "0"}, {"requests", "list", "--format", "csv", "--limit", "0"}, {"requests", "list", "--format", "json", "--limit", "0"},
		{"status"}, {"status", "--json"},
	} {
		r := runAt(t, vars, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d %s", args, r.code, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "1234") {
			t.Errorf("%v shows the PIN:\n%s", args, r.stdout)
		}
	}
	if r := runAt(t, vars, "requests", "show", "11"); !strings.Contains(r.stdout, "pin:                 ****\n") || !strings.Contains(r.stdout, `"pin":"****"`) {
		t.Errorf("show 11:\n%s", r.stdout)
	}
	var pin sql.NullString
	var raw string
	if err := db.QueryRow("SELECT pin, request FROM provisioning_requests WHERE number = 4").Scan(&pin, &raw); err != nil {
		t.Fatal(err)
	}
	if pin.Valid || strings.Contains(raw, "4821") {
		t.Errorf("settled SET_PIN 4 keeps its PIN: %v %s", pin, raw)
	}
}

// TestStatusWording: the processing run's line names its state as the run ledger
// does (a run that rejected requests is REJECTED in both), and counts of one are
// singular (issue 11, part 5).
func TestStatusWording(t *testing.T) {
	db, vars := opsDB(t)
	if _, err := db.Exec(`UPDATE processes SET state = 'SUCCEEDED', rejected = 1, finished_at = '2026-11-30T11:59:40Z' WHERE id = 12`); err != nil {
		t.Fatal(err)
	}
	r := runAt(t, vars, "status")
	if r.code != 0 || !strings.Contains(r.stdout, "Last processing run: 12 REJECTED, started") {
		t.Errorf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	cfg := filepath.Join(t.TempDir(), "one.toml")
	if err := os.WriteFile(cfg, []byte("[log]\nlevel = \"loud\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, nil, "config", "check", cfg); r.code != 2 || !strings.Contains(r.stderr, "1 mistake in ") {
		t.Errorf("config check of one mistake: exit %d %s", r.code, r.stderr)
	}
}
