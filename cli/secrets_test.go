package cli_test

import (
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
