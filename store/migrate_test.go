package store_test

import (
	"context"
	"database/sql"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4/database"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/store"
)

// TestMigrateConcurrently: several migrates at once on an empty database, directly
// and through a real PgBouncer in transaction pooling mode with two server
// connections (issue 16). golang-migrate's own driver took a session-level advisory
// lock there, which a pooler leaves on whichever server connection ran it. Here: while
// another session holds the migration lock (as an older provisioner's migrate would)
// none of them migrates; once it lets go, one migrates from 0 and the others find
// its work done; none fails, no lock is left on the server, and migrate runs again.
func TestMigrateConcurrently(t *testing.T) {
	const migrates = 4
	cases := []struct {
		name     string
		poolSize int // PgBouncer's server connections; 0: directly
	}{
		{"direct", 0},
		{"pgbouncer transaction pooling, 2 server connections", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			direct := pgtest.NewEmptyURL(t)
			dsn := direct
			if c.poolSize > 0 {
				dsn = pgtest.Bouncer(t, direct, c.poolSize)
			}
			admin, err := sql.Open("postgres", direct)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			name := strings.TrimPrefix(must(url.Parse(direct)).Path, "/")

			// Another session holds the lock, on golang-migrate's key for the table.
			id, err := database.GenerateAdvisoryLockId(name, "public", "schema_migrations")
			if err != nil {
				t.Fatal(err)
			}
			key := must(strconv.ParseInt(id, 10, 64))
			holder, err := admin.Begin()
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Rollback()
			if _, err := holder.Exec("SELECT pg_advisory_xact_lock($1)", key); err != nil {
				t.Fatal(err)
			}

			type result struct {
				from, to uint
				err      error
			}
			results := make(chan result, migrates)
			for range migrates {
				go func() {
					from, to, err := store.Migrate(context.Background(), dsn)
					results <- result{from, to, err}
				}()
			}
			// They try the lock (a server session of this database ran the try)...
			waitFor(t, 30*time.Second, "a migrate to try the lock", func() bool {
				var n int
				must0(t, admin.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_try_advisory_xact_lock%'`, name).Scan(&n))
				return n > 0
			})
			// ... and none gets past it while it is held: absence observed for a while.
			select {
			case r := <-results:
				t.Fatalf("a migrate returned while another session held the lock: %d -> %d, %v", r.from, r.to, r.err)
			case <-time.After(time.Second):
			}
			var tables int
			must0(t, admin.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'schema_migrations'`).Scan(&tables))
			if tables > 0 {
				t.Fatalf("%d tables created while another session held the lock", tables)
			}
			if err := holder.Commit(); err != nil {
				t.Fatal(err)
			}

			latest := store.LatestVersion()
			fromZero := 0
			for range migrates {
				var r result
				select {
				case r = <-results:
				case <-time.After(2 * time.Minute):
					t.Fatal("a migrate did not return within 2 minutes of the lock's release")
				}
				switch {
				case r.err != nil:
					t.Errorf("migrate: %v", r.err)
				case r.to != latest:
					t.Errorf("migrate: to version %d, want %d", r.to, latest)
				case r.from == 0:
					fromZero++
				case r.from != latest:
					t.Errorf("migrate: from version %d, want 0 (it migrated) or %d (it found it done)", r.from, latest)
				}
			}
			if fromZero != 1 {
				t.Errorf("%d migrates migrated from version 0, want exactly one", fromZero)
			}

			// No lock left on the server (a pooler keeps its server connections).
			var locks int
			must0(t, admin.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = $1)`, name).Scan(&locks))
			if locks > 0 {
				t.Errorf("%d advisory locks left on the server", locks)
			}
			var version int
			var dirty bool
			must0(t, admin.QueryRow(`SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty))
			if version != int(latest) || dirty {
				t.Errorf("schema_migrations: version %d dirty %v, want %d clean", version, dirty, latest)
			}
			// And again: nothing to do, at once.
			start := time.Now()
			from, to, err := store.Migrate(context.Background(), dsn)
			if err != nil || from != latest || to != latest {
				t.Errorf("migrate again: %d -> %d, %v; want %d -> %d", from, to, err, latest, latest)
			}
			if d := time.Since(start); d > store.MigrationLockTimeout/2 {
				t.Errorf("migrate again took %v: it waited for a lock", d)
			}
		})
	}
}

func must0(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
}
