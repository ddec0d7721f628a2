package benchrun

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/provisioner/provisioner/internal/procwatch"
	"github.com/provisioner/provisioner/internal/samplegen"
)

// Config says what to run.
type Config struct {
	Rows   int    // instruction rows generated and imported
	Rounds int    // importer and baselines are each run this many times, alternating
	Seed   uint64 // of the generated data

	// ServerURL is a postgres:// URL of any database on the server; the bench
	// database is created beside it (and dropped at the end).
	ServerURL string
	Database  string

	Provisioner string // the provisioner binary
	// Base, when set, is another build of the provisioner (the one before a change),
	// whose import is measured in every round too, beside this build's.
	Base    string
	Psql    string // psql
	TempDir string // where the work directory is created ("" for the system's)
	Keep    bool   // keep the database and the work directory, to look at them

	Progress io.Writer // what is going on, as it goes
}

// bench is one run in progress.
type bench struct {
	cfg     Config
	logf    func(format string, args ...any)
	table   string
	columns []string
	work    string // the work directory
	file    string // the instruction file
	dbURL   string
	env     []string // of the child processes
	db      *sql.DB
	pgPID   int // the postmaster, to watch the server's CPU time; 0 if unknown
}

// Run runs the benchmark and writes its report to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if cfg.Rows < 1 || cfg.Rounds < 1 {
		return fmt.Errorf("rows %d, rounds %d: both must be at least 1", cfg.Rows, cfg.Rounds)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	b := &bench{cfg: cfg, logf: func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, "bench: "+format+"\n", args...)
	}}
	started := time.Now()
	var err error
	if b.table, b.columns, err = copyTarget(); err != nil {
		return err
	}
	for _, bin := range []*string{&b.cfg.Provisioner, &b.cfg.Psql, &b.cfg.Base} {
		if *bin == "" {
			continue // no base build
		}
		path, err := exec.LookPath(*bin)
		if err != nil {
			return fmt.Errorf("find %s: %w", *bin, err)
		}
		*bin = path
	}
	if b.dbURL, err = withDatabase(cfg.ServerURL, cfg.Database); err != nil {
		return err
	}
	// psql prints timestamps in the session's zone: readResolved expects UTC. No CAS
	// gateway: `import` would send the file's process_immediately requests to one
	// configured in the caller's environment, and that is not the import's time.
	b.env = []string{"DATABASE_URL=" + b.dbURL, "LOG_FORMAT=json", "PGTZ=UTC",
		"CAS_GATEWAY_URL=", "CAS_DESTINATION_ID=", "CAS_GATEWAY_TOKEN="}

	if b.work, err = os.MkdirTemp(cfg.TempDir, "provisioner-bench-"); err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	if cfg.Keep {
		b.logf("keeping the work directory %s", b.work)
	} else {
		defer os.RemoveAll(b.work)
	}
	if strings.ContainsAny(b.work, `'\`) {
		return fmt.Errorf("work directory %s: psql's \\copy needs a path without quotes or backslashes", b.work)
	}

	rep := report{rows: cfg.Rows, rounds: cfg.Rounds, cpus: runtime.NumCPU()}
	if err := b.setup(ctx, &rep); err != nil {
		return err
	}
	defer b.teardown()
	if err := b.rounds(ctx, &rep); err != nil {
		return err
	}
	rep.total = time.Since(started)
	rep.print(out)
	return nil
}

// setup generates the data, creates and migrates the database and loads the
// reference data, as an operator would, with the real binary.
func (b *bench) setup(ctx context.Context, rep *report) error {
	t := time.Now()
	st, err := samplegen.Generate(b.work, samplegen.Config{Rows: b.cfg.Rows, Seed: b.cfg.Seed})
	if err != nil {
		return err
	}
	b.file = filepath.Join(b.work, samplegen.InstructionsFile)
	if fi, err := os.Stat(b.file); err == nil {
		rep.fileSize = fi.Size()
	}
	rep.generate, rep.gen = time.Since(t), st
	b.logf("generated %d rows (%.1f MB) and reference data (%d subscriptions) in %v",
		st.Rows, float64(rep.fileSize)/1e6, st.Subscriptions, rep.generate.Round(time.Millisecond))

	admin, err := sql.Open("postgres", b.cfg.ServerURL)
	if err != nil {
		return fmt.Errorf("open server: %w", err)
	}
	defer admin.Close()
	if err := admin.QueryRowContext(ctx, "SELECT current_setting('server_version')").Scan(&rep.pgVersion); err != nil {
		return fmt.Errorf("connect to server (run scripts/ensure-postgres.sh): %w", err)
	}
	name := pq.QuoteIdentifier(b.cfg.Database)
	for _, q := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create database %s: %w", b.cfg.Database, err)
		}
	}
	t = time.Now()
	if _, err := runChild(ctx, b.env, b.cfg.Provisioner, "migrate"); err != nil {
		b.dropDatabase()
		return err
	}
	rep.migrate = time.Since(t)
	t = time.Now()
	if _, err := runChild(ctx, b.env, b.cfg.Provisioner, "reference", "load", filepath.Join(b.work, samplegen.ReferenceDir)); err != nil {
		b.dropDatabase()
		return err
	}
	rep.reference = time.Since(t)
	b.logf("created %s, migrated it, loaded the reference data in %v", b.cfg.Database, rep.reference.Round(time.Millisecond))

	if b.db, err = sql.Open("postgres", b.dbURL); err != nil {
		b.dropDatabase()
		return fmt.Errorf("open %s: %w", b.cfg.Database, err)
	}
	// One connection: its backend is the one the lib/pq baseline's COPY runs on.
	b.db.SetMaxOpenConns(1)
	var backend int
	if err := b.db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&backend); err == nil {
		b.pgPID = procwatch.PostmasterOf(backend)
	}
	// As autovacuum would have long since done on an operator's server: the importer's
	// lookups are planned with statistics of the reference tables.
	if _, err := b.db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		b.teardown()
		return fmt.Errorf("vacuum: %w", err)
	}
	return nil
}

func (b *bench) teardown() {
	if b.db != nil {
		b.db.Close()
	}
	b.dropDatabase()
}

func (b *bench) dropDatabase() {
	if b.cfg.Keep {
		b.logf("keeping the database %s", b.cfg.Database)
		return
	}
	// The run's context may be cancelled (^C): the database still goes.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("postgres", b.cfg.ServerURL)
	if err != nil {
		return
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(b.cfg.Database)+" WITH (FORCE)"); err != nil {
		b.logf("could not drop %s: %v", b.cfg.Database, err)
	}
}

// rounds alternates the importer and the baselines: in even rounds they run in the
// reverse order, so that none always follows the same one (a measurement leaves
// the server's caches and the machine's load to the next). Round 1 starts with the
// importer, whose rows the baselines load.
func (b *bench) rounds(ctx context.Context, rep *report) error {
	resolved := filepath.Join(b.work, "resolved.copy")
	var rows []resolvedRow
	for round := 1; round <= b.cfg.Rounds; round++ {
		importer := func() error {
			m, own, err := b.importer(ctx, b.cfg.Provisioner)
			if err != nil {
				return err
			}
			rep.importer, rep.importerOwn = append(rep.importer, m), append(rep.importerOwn, own)
			b.logf("round %d/%d: importer       %s", round, b.cfg.Rounds, m)
			if round > 1 {
				return nil
			}
			// What the importer wrote, column for column, is what the baselines load.
			cmd := fmt.Sprintf(`\copy (SELECT %s FROM %s WHERE life_cycle_state = 'PENDING' ORDER BY id) TO '%s'`, strings.Join(b.columns, ", "), b.table, resolved)
			if _, err := runChild(ctx, b.env, b.cfg.Psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", b.dbURL, "-c", cmd); err != nil {
				return fmt.Errorf("export the imported rows: %w", err)
			}
			if !sameColumns(b.columns) {
				rep.pqSkipped = "copy_requests.sql's columns changed: update internal/benchrun's resolvedRow"
			} else if rows, err = readResolved(resolved); err != nil {
				return fmt.Errorf("read %s: %w", resolved, err)
			}
			return nil
		}
		psql := func() error {
			m, err := b.psqlCopy(ctx, resolved)
			if err != nil {
				return err
			}
			rep.psql = append(rep.psql, m)
			b.logf("round %d/%d: psql \\copy    %s", round, b.cfg.Rounds, m)
			return nil
		}
		base := func() error {
			if b.cfg.Base == "" {
				return nil
			}
			m, _, err := b.importer(ctx, b.cfg.Base)
			if err != nil {
				return fmt.Errorf("base build: %w", err)
			}
			rep.base = append(rep.base, m)
			b.logf("round %d/%d: base build     %s", round, b.cfg.Rounds, m)
			return nil
		}
		pqCopy := func() error {
			if rep.pqSkipped != "" {
				return nil
			}
			m, err := b.pqCopy(ctx, rows)
			if err != nil {
				return err
			}
			rep.pq = append(rep.pq, m)
			b.logf("round %d/%d: lib/pq CopyIn %s", round, b.cfg.Rounds, m)
			return nil
		}
		steps := []func() error{importer, psql, base, pqCopy}
		if round%2 == 0 {
			slices.Reverse(steps)
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
	}
	return nil
}

// history is how many settled requests each measurement finds in the table.
const history = 1000

// reset empties the request and import tables (the importer would refuse the same
// file twice), writes a small settled history and analyses it, and checkpoints, so
// that no measurement writes out another's pages. Every measurement then finds
// the table as an operator's bulk import does: statistics that know only settled
// requests, which the importer refreshes in the file's transaction
// (store.RefreshRequestStatsTx) and a raw COPY does not. Without the history, the
// statistics left by the round before knew the file's rows, and only the first
// import of a run paid for the refresh.
func (b *bench) reset(ctx context.Context) error {
	table := pq.QuoteIdentifier(b.table)
	for _, q := range []string{
		"TRUNCATE " + table + ", import_files RESTART IDENTITY",
		fmt.Sprintf(`INSERT INTO %s (type, life_cycle_state, smartcard_ca_id, executed_date)
		        SELECT 'RESET_PIN', 'COMPLETED', 'H' || i, now() - interval '1 day' FROM generate_series(1, %d) i`, table, history),
		"ANALYZE " + table,
		"CHECKPOINT",
	} {
		if _, err := b.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	return nil
}

// check makes sure that a measurement wrote every row.
func (b *bench) check(ctx context.Context, what string) error {
	var n int
	if err := b.db.QueryRowContext(ctx, "SELECT count(*) FROM "+pq.QuoteIdentifier(b.table)+" WHERE life_cycle_state = 'PENDING'").Scan(&n); err != nil {
		return fmt.Errorf("%s: count: %w", what, err)
	}
	if n != b.cfg.Rows {
		return fmt.Errorf("%s: %d rows in %s, want %d", what, n, b.table, b.cfg.Rows)
	}
	return nil
}

// importer runs `bin import FILE` as an operator would. own is the duration the
// importer logs for the file (from its start to its commit), without the process's
// start, connection and exit.
func (b *bench) importer(ctx context.Context, bin string) (m measurement, own time.Duration, err error) {
	if err := b.reset(ctx); err != nil {
		return m, 0, err
	}
	w := procwatch.WatchPostgres(b.pgPID, b.cfg.Database)
	c, err := runChild(ctx, b.env, bin, "import", b.file)
	c.pgCPU = w.Finish()
	if err != nil {
		return m, 0, fmt.Errorf("importer: %w", err)
	}
	c.rows = b.cfg.Rows
	return c.measurement, loggedDuration(c.stderr), b.check(ctx, "importer")
}

// loggedDuration finds the duration of the importer's "file imported" log line.
func loggedDuration(log string) time.Duration {
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var entry struct {
			Msg      string `json:"msg"`
			Duration string `json:"duration"`
		}
		if json.Unmarshal(sc.Bytes(), &entry) != nil || entry.Msg != "file imported" {
			continue
		}
		d, _ := time.ParseDuration(entry.Duration)
		return d
	}
	return 0
}

// psqlCopy loads the exported rows with psql's \copy: the raw COPY baseline.
func (b *bench) psqlCopy(ctx context.Context, path string) (measurement, error) {
	if err := b.reset(ctx); err != nil {
		return measurement{}, err
	}
	cmd := fmt.Sprintf(`\copy %s (%s) FROM '%s'`, b.table, strings.Join(b.columns, ", "), path)
	w := procwatch.WatchPostgres(b.pgPID, b.cfg.Database)
	c, err := runChild(ctx, b.env, b.cfg.Psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", b.dbURL, "-c", cmd)
	c.pgCPU = w.Finish()
	if err != nil {
		return measurement{}, fmt.Errorf("raw copy: %w", err)
	}
	c.rows = b.cfg.Rows
	return c.measurement, b.check(ctx, "psql \\copy")
}

// pqCopy loads the rows, already in memory, with lib/pq's CopyIn from this process.
func (b *bench) pqCopy(ctx context.Context, rows []resolvedRow) (measurement, error) {
	m := measurement{rows: len(rows)}
	if err := b.reset(ctx); err != nil {
		return m, err
	}
	runtime.GC() // the rows were just read: their garbage is not the copy's to collect
	cpu := procwatch.SelfCPU()
	w := procwatch.WatchPostgres(b.pgPID, b.cfg.Database)
	t := time.Now()
	err := copyIn(ctx, b.db, b.table, b.columns, rows)
	m.wall = time.Since(t)
	m.pgCPU = w.Finish()
	m.clientCPU = procwatch.SelfCPU() - cpu
	if err != nil {
		return m, fmt.Errorf("lib/pq copy: %w", err)
	}
	return m, b.check(ctx, "lib/pq CopyIn")
}

// withDatabase returns serverURL naming database name instead.
func withDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("server URL %q: want postgres://user@host:port/database", serverURL)
	}
	u.Path = "/" + name
	return u.String(), nil
}
