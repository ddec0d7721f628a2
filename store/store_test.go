package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

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

// TestMaintenance: the maintenance connection has no statement timeout, whatever the
// pool's (the option's, or the connection string's own), so a statement longer than
// the pool's bound runs to its end there; the pool keeps its bound.
func TestMaintenance(t *testing.T) {
	_, dsn := pgtest.New(t)
	for _, c := range []struct {
		name string
		dsn  string
		opts store.Options
	}{
		{"option", dsn, store.Options{StatementTimeout: 100 * time.Millisecond}},
		{"the URL's own", dsn + "&statement_timeout=100", store.Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := store.Open(ctx, c.dsn, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			m, err := db.Maintenance(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var timeout, jit string
			if err := m.QueryRow("SELECT current_setting('statement_timeout'), current_setting('jit')").Scan(&timeout, &jit); err != nil {
				t.Fatal(err)
			}
			if timeout != "0" || jit != "off" {
				t.Errorf("maintenance: statement_timeout %s, jit %s; want 0, off", timeout, jit)
			}
			if _, err := m.Exec("SELECT pg_sleep(0.3)"); err != nil {
				t.Errorf("maintenance: pg_sleep(0.3): %v", err)
			}
			if _, err := db.Exec("SELECT pg_sleep(0.3)"); err == nil || !strings.Contains(err.Error(), "statement timeout") {
				t.Errorf("the pool, after: pg_sleep(0.3) with a 100ms timeout: %v", err)
			}
		})
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

// TestReadOnlyConnectionDropped: after a failover the pool's connections reach a
// server that only reads; a statement refused with 25006 drops its connection, so
// that once a writable server is back the next statements succeed, without a
// restart (issue 16). Here the database itself turns read-only for new sessions,
// then writable again.
func TestReadOnlyConnectionDropped(t *testing.T) {
	_, dsn := pgtest.New(t)
	ctx := context.Background()
	admin, err := sql.Open("postgres", pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := strings.TrimPrefix(must(url.Parse(dsn)).Path, "/")
	readOnly := func(on bool) {
		t.Helper()
		if _, err := admin.Exec(fmt.Sprintf("ALTER DATABASE %s SET default_transaction_read_only = %v", pq.QuoteIdentifier(name), on)); err != nil {
			t.Fatal(err)
		}
	}
	readOnly(true)
	db, err := store.Open(ctx, dsn, store.Options{}) // its connections begin read-only
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	insert := func() error {
		_, err := db.ExecContext(ctx, `INSERT INTO api_tokens (name, token_sha256) VALUES ('t' || clock_timestamp(), md5(random()::text))`)
		return err
	}
	tx := func() error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (name, token_sha256) VALUES ('x' || clock_timestamp(), md5(random()::text))`); err != nil {
			return err
		}
		return tx.Commit()
	}
	// Two writes, each refused (the second on a new connection, read-only too). A
	// transaction is not tried here: lib/pq begins READ WRITE, which overrides the
	// database's default (on a standby that BEGIN is what fails).
	for i, f := range []func() error{insert, insert} {
		var pe *pq.Error
		if err := f(); !errors.As(err, &pe) || pe.Code != "25006" {
			t.Fatalf("on a read-only server, statement %d: %v, want 25006", i+1, err)
		}
	}
	readOnly(false) // the new primary
	for i, f := range []func() error{insert, tx, insert} {
		if err := f(); err != nil {
			t.Errorf("statement %d once the server is writable again: %v", i+1, err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
