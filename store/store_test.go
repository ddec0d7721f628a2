package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/store"
)

// TestOpenSessionSettings: every connection Open makes has a statement timeout (the
// default, the option, or the connection string's own) and JIT off, unless the
// connection string says otherwise.
func TestOpenSessionSettings(t *testing.T) {
	_, dsn := pgtest.New(t)
	cases := []struct {
		name         string
		dsn          string
		opts         store.Options
		timeout, jit string
	}{
		{"defaults", dsn, store.Options{}, "30s", "off"},
		{"option", dsn, store.Options{StatementTimeout: 1500 * time.Millisecond}, "1500ms", "off"},
		{"none", dsn, store.Options{StatementTimeout: -1}, "0", "off"},
		{"the URL's own", dsn + "&statement_timeout=5000&jit=on", store.Options{StatementTimeout: time.Second}, "5s", "on"},
		{"in options", dsn + "&options=-c%20statement_timeout%3D7s", store.Options{}, "7s", "off"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, err := store.Open(context.Background(), c.dsn, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var timeout, jit, app string
			if err := db.QueryRow("SELECT current_setting('statement_timeout'), current_setting('jit'), current_setting('application_name')").Scan(&timeout, &jit, &app); err != nil {
				t.Fatal(err)
			}
			if timeout != c.timeout || jit != c.jit || app != "provisioner" {
				t.Errorf("statement_timeout %s, jit %s, application_name %q; want %s, %s, provisioner", timeout, jit, app, c.timeout, c.jit)
			}
		})
	}
}

// TestStatementTimeout: a statement longer than the timeout is cancelled by the
// server, with PostgreSQL's own message.
func TestStatementTimeout(t *testing.T) {
	_, dsn := pgtest.New(t)
	db, err := store.Open(context.Background(), dsn, store.Options{StatementTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec("SELECT pg_sleep(5)")
	if err == nil || !strings.Contains(err.Error(), "statement timeout") {
		t.Errorf("pg_sleep(5) with a 100ms timeout: %v", err)
	}
}

// TestParseStatementTimeout: the setting as DATABASE_STATEMENT_TIMEOUT and
// database.statement_timeout give it.
func TestParseStatementTimeout(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30s", 30 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{"0", -1, true}, // none
		{"-5s", 0, false},
		{"30", 0, false},
		{"soon", 0, false},
	}
	for _, c := range cases {
		got, err := store.ParseStatementTimeout(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseStatementTimeout(%q) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}
