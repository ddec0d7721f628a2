package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/lib/pq"

	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// DefaultURL is the server tests use when TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is the URL of the server tests create their databases on.
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// New creates a fresh migrated database for t and returns it open, with its URL.
func New(t testing.TB) (*store.DB, string) {
	t.Helper()
	dsn := NewURL(t)
	// Room for a processing run at concurrency 8 (the bench's), as the commands size
	// their pools for their runs (dispatcher.Options.Conns).
	db, err := store.Open(context.Background(), dsn, store.Options{Conns: 10})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// NewURL creates a fresh migrated database for t and returns its URL: for tests that
// run a command which opens the database itself. It is dropped when t ends.
func NewURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// NewEmptyURL creates an empty database for t, with no schema (for tests of the
// migrations themselves), and returns its URL. It is dropped when t ends.
func NewEmptyURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	ctx := context.Background()
	admin, err := sql.Open("postgres", ServerURL())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("pgtest: no PostgreSQL at %s (run scripts/ensure-postgres.sh, or set TEST_DATABASE_URL): %v", store.Redact(ServerURL()), err)
	}
	name := "provisioner_test_" + randomHex(6)
	if migrated {
		tpl, err := template(ctx, admin)
		if err != nil {
			t.Fatalf("pgtest: template: %v", err)
		}
		err = createFrom(ctx, admin, name, tpl)
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	} else if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("postgres", ServerURL())
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(name) + " WITH (FORCE)")
	})
	return withDatabase(ServerURL(), name)
}

// template returns the name of the migrated template database for this binary's
// migrations, creating it if needed. Test binaries of several packages run at once,
// so creation is serialised with an advisory lock and published by a rename.
func template(ctx context.Context, admin *sql.DB) (string, error) {
	name := "provisioner_tpl_" + migrationsHash()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(727274)")

	var exists bool
	if err := conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(building)+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(building)); err != nil {
		return "", err
	}
	if _, _, err := store.Migrate(ctx, withDatabase(ServerURL(), building)); err != nil {
		return "", fmt.Errorf("migrate: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(building)+" RENAME TO "+pq.QuoteIdentifier(name)); err != nil {
		return "", err
	}
	return name, nil
}

// createFrom copies the template, retrying while another session briefly holds it
// (PostgreSQL refuses to copy a database that has connections).
func createFrom(ctx context.Context, admin *sql.DB, name, tpl string) error {
	var err error
	for i := 0; i < 50; i++ {
		_, err = admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)+" TEMPLATE "+pq.QuoteIdentifier(tpl))
		if pe, ok := err.(*pq.Error); ok && pe.Code == "55006" {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		break
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func migrationsHash() string {
	h := sha256.New()
	fs.WalkDir(provsql.Migrations(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(provsql.Migrations(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func withDatabase(serverURL, name string) string {
	u, err := url.Parse(serverURL)
	if err != nil {
		panic(fmt.Sprintf("pgtest: TEST_DATABASE_URL is not a URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
