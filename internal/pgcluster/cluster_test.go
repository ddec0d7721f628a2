package pgcluster_test

import (
	"database/sql"
	"errors"
	"testing"

	_ "github.com/lib/pq"

	"github.com/provisioner/provisioner/internal/pgcluster"
)

// TestShutdownAndOpen: a cluster made with settings of its maker's, shut down and
// opened again, comes back on its port with its settings and its data.
func TestShutdownAndOpen(t *testing.T) {
	c, err := pgcluster.Start(t.TempDir(), nil, map[string]string{"fsync": "on", "max_wal_size": "'3GB'"}, nil)
	if errors.Is(err, pgcluster.ErrNoCluster) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	query := func(c *pgcluster.Cluster, q string) (s string) {
		t.Helper()
		db, err := sql.Open("postgres", c.URL("127.0.0.1", "postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow(q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	query(c, `CREATE TABLE kept AS SELECT 'still here'::text AS v; SELECT v FROM kept`)
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// Open of a cluster already running finds it as it is.
	for i := range 2 {
		o, err := pgcluster.Open(c.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if o.Port != c.Port {
			t.Errorf("open %d: port %d, made on %d", i, o.Port, c.Port)
		}
		for q, want := range map[string]string{"SELECT v FROM kept": "still here", "SHOW max_wal_size": "3GB", "SHOW fsync": "on"} {
			if got := query(o, q); got != want {
				t.Errorf("open %d: %s = %q, want %q", i, q, got, want)
			}
		}
	}
}
