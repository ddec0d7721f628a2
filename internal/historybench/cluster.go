package historybench

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/internal/pgcluster"
)

// serverSettings are the server settings the table's header prints, whichever
// server the bench runs on: the figures at 10M depend on them (docs/operating.md,
// "PostgreSQL settings").
var serverSettings = []string{"shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression", "autovacuum"}

// clusterSettings are those of the bench's own cluster (Config.Cluster): the ones
// docs/operating.md recommends for a provisioner database. PostgreSQL's defaults
// (shared_buffers 128MB, max_wal_size 1GB) are made for a small machine: at 10M
// requests a processing run's write-backs touch index pages all over the settled
// history's indexes, and with checkpoints every few seconds (the server logs
// "checkpoints are occurring too frequently") nearly every such touch wrote the
// whole page to the WAL: 360,000 full-page images, 2.7 GB of WAL for a run of
// 175,000 requests at 10M, against 38,000 at 0, and a run 0.67x as fast. With these
// the same run went at 0.95x (docs/benchmarks.md). Autovacuum stays off, as on the
// machine's server: the bench measures what the provisioner does on its own
// (housekeeping's vacuum, the importer's statistics), which must hold where
// autovacuum is on or off.
func clusterSettings() map[string]string {
	return map[string]string{
		"shared_buffers":     sharedBuffers(),
		"max_wal_size":       "'16GB'",
		"checkpoint_timeout": "'15min'",
		"wal_compression":    "lz4",
		"fsync":              "on", // a bench of commits: they wait for the disk, as in production
		"autovacuum":         "off",
	}
}

// sharedBuffers is a quarter of the machine's memory, as PostgreSQL's manual
// advises for a dedicated server, at most 4GB (the history of 10M requests, its
// indexes included, is about 10 GB; what does not fit stays in the kernel's cache).
func sharedBuffers() string {
	mb := int64(4096)
	if f, err := os.Open("/proc/meminfo"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if fields := strings.Fields(s.Text()); len(fields) >= 2 && fields[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					mb = min(mb, max(128, kb/1024/4))
				}
			}
		}
	}
	return fmt.Sprintf("'%dMB'", mb)
}

// openCluster starts the bench's own cluster under dir, made there with
// clusterSettings unless an earlier -keep run left one (dir/pg-*), and points the
// bench at it. done shuts it down and keeps it (Keep), or throws it away.
func (b *bench) openCluster(dir string) (done func(), err error) {
	var c *pgcluster.Cluster
	kept, _ := filepath.Glob(filepath.Join(dir, "pg-*", "data", "postgresql.conf"))
	switch len(kept) {
	case 0:
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if c, err = pgcluster.Start(dir, nil, clusterSettings(), nil); err != nil {
			if errors.Is(err, pgcluster.ErrNoCluster) {
				return nil, fmt.Errorf("-cluster: %w (give -server instead)", err)
			}
			return nil, fmt.Errorf("the bench's cluster: %w", err)
		}
		b.logf("cluster made in %s, port %d", c.Dir, c.Port)
	case 1:
		if c, err = pgcluster.Open(filepath.Dir(filepath.Dir(kept[0]))); err != nil {
			return nil, fmt.Errorf("the bench's cluster: %w", err)
		}
		b.logf("cluster in %s started again, port %d", c.Dir, c.Port)
	default:
		return nil, fmt.Errorf("-cluster %s: %d clusters there (%s): leave one", dir, len(kept), strings.Join(kept, ", "))
	}
	b.cfg.ServerURL = c.URL("127.0.0.1", "postgres")
	return func() {
		if b.cfg.Keep {
			if err := c.Shutdown(); err != nil {
				b.logf("%v", err)
			}
			b.logf("keeping the cluster in %s (stopped; -cluster %s starts it again)", c.Dir, dir)
			return
		}
		c.Stop()
	}, nil
}

// settings reads the server's serverSettings, for the table's header.
func (b *bench) settings(ctx context.Context) string {
	db, err := sql.Open("postgres", b.cfg.ServerURL)
	if err != nil {
		return err.Error()
	}
	defer db.Close()
	var out string
	if err := db.QueryRowContext(ctx, `
		SELECT string_agg(name || ' ' || current_setting(name), ', ' ORDER BY n)
		FROM unnest($1::text[]) WITH ORDINALITY AS s (name, n)`, pq.Array(serverSettings)).Scan(&out); err != nil {
		return "settings unknown: " + err.Error()
	}
	return out
}
