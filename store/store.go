package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// DB is the provisioner's database.
type DB struct {
	*sqlx.DB
	dsn string // for Maintenance's connection of its own
}

// DefaultStatementTimeout bounds every statement of a connection that Open makes,
// unless the connection string sets statement_timeout itself: the processing run's
// statements take milliseconds, and one that waits for half a minute (a lock, a plan
// gone wrong) is better failed, named in the log, than waited for without end.
const DefaultStatementTimeout = 30 * time.Second

// Options tune the connections Open makes. Zero values take the defaults.
type Options struct {
	// StatementTimeout is PostgreSQL's statement_timeout for every connection:
	// a statement running longer is cancelled by the server. Zero: the default;
	// negative: none. A statement_timeout in the connection string wins.
	StatementTimeout time.Duration
	// Conns is how many connections the caller uses at once (a processing run:
	// dispatcher.Options.Conns): the pool keeps at least that many open and idle,
	// so that none waits for a connection or reconnects. Zero: the default pool,
	// DefaultConns open and half as many idle, enough for an import (its COPY and
	// its lookups) and the commands.
	Conns int
}

// DefaultConns is the size of the pool Open makes unless Options.Conns asks more.
const DefaultConns = 8

// Open connects to the database at dsn (a postgres:// URL or key=value string) and
// checks that it answers.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg, err := connConfig(dsn)
	if err != nil {
		return nil, err
	}
	setStatementTimeout(&cfg, opts.StatementTimeout)
	setRuntime(&cfg, "jit", "off")
	connector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redact(dsn), redactErr(dsn, err))
	}
	db := sqlx.NewDb(sql.OpenDB(dropReadOnly{connector}), "postgres")
	// The pool is sized here alone: the code that uses it (the processing run, the
	// scheduler's jobs) says how many it needs through opts.Conns.
	db.SetMaxOpenConns(max(DefaultConns, opts.Conns))
	db.SetMaxIdleConns(max(DefaultConns/2, opts.Conns))
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database %s: %w", Redact(dsn), redactErr(dsn, err))
	}
	return &DB{db, dsn}, nil
}

// Maintenance opens one connection of its own to the same database with no
// statement_timeout, for the statements that take as long as the table is big:
// housekeeping's VACUUM of the requests took 11 s after deleting 1.7M of 10M here,
// and on a larger table or a busier server the 30 s that bound every other
// statement would cancel it every night. Not a SET on a connection of the pool:
// behind PgBouncer in transaction mode a SET lands on whichever server connection
// is free and stays there for other clients. Behind PgBouncer, which does not pass
// statement_timeout on, the role's applies (docs/high-availability.md). The caller
// closes it.
func (db *DB) Maintenance(ctx context.Context) (*DB, error) {
	cfg, err := connConfig(db.dsn)
	if err != nil {
		return nil, err
	}
	if cfg.Runtime == nil {
		cfg.Runtime = map[string]string{}
	}
	cfg.Runtime["statement_timeout"] = "0"
	setRuntime(&cfg, "jit", "off")
	connector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redact(db.dsn), redactErr(db.dsn, err))
	}
	m := sqlx.NewDb(sql.OpenDB(dropReadOnly{connector}), "postgres")
	m.SetMaxOpenConns(1)
	if err := m.PingContext(ctx); err != nil {
		m.Close()
		return nil, fmt.Errorf("connect to database %s: %w", Redact(db.dsn), redactErr(db.dsn, err))
	}
	return &DB{m, db.dsn}, nil
}

// connConfig is lib/pq's configuration of every connection the provisioner makes
// (Open's and Migrate's).
func connConfig(dsn string) (pq.Config, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return cfg, fmt.Errorf("open database %s: %w", Redact(dsn), redactErr(dsn, err))
	}
	if cfg.ApplicationName == "" {
		cfg.ApplicationName = "provisioner" // pg_stat_activity names who runs what
	}
	// One round trip per query with arguments: Parse, Bind and Execute of the unnamed
	// statement sent together. Without it lib/pq parses first and binds in a second
	// exchange, and a pooler in transaction mode (PgBouncer) may hand the server
	// connection to another client in between: "bind message supplies 11 parameters,
	// but prepared statement "" requires 5" (issue 16). []byte arguments then go in
	// binary form; the provisioner passes none but bytea.
	cfg.BinaryParameters = true
	return cfg, nil
}

// ParseStatementTimeout reads the statement-timeout setting as DATABASE_STATEMENT_TIMEOUT
// and database.statement_timeout give it: a Go duration, "0" for none. It returns
// Options.StatementTimeout's value (negative: none).
func ParseStatementTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil || d < 0:
		return 0, fmt.Errorf("%q is not a duration such as 30s or 2m (0: no timeout)", s)
	case d == 0:
		return -1, nil
	}
	return d, nil
}

// setStatementTimeout sends statement_timeout as a run-time parameter of every
// connection (in the start-up message: no extra round trip, and no SET that a pooler
// in transaction mode would leak to other clients), unless dsn set it already.
func setStatementTimeout(cfg *pq.Config, d time.Duration) {
	switch {
	case d == 0:
		d = DefaultStatementTimeout
	case d < 0:
		return
	}
	setRuntime(cfg, "statement_timeout", strconv.FormatInt(max(1, d.Milliseconds()), 10))
}

// setRuntime sends a run-time parameter with every connection unless dsn set it.
//
// jit=off: the provisioner's statements are short and run thousands of times, and
// PostgreSQL compiles a JIT plan at every execution of a statement whose estimated
// cost passes jit_above_cost. The claim's estimate passes it on a large queue (its
// LIMIT does not lower the estimate of the scan under it): measured, 200 ms of JIT
// for an 85 ms claim (issue 15's database, 200,000 pending requests).
func setRuntime(cfg *pq.Config, name, value string) {
	if _, ok := cfg.Runtime[name]; ok || strings.Contains(cfg.Options, name) {
		return
	}
	if cfg.Runtime == nil {
		cfg.Runtime = map[string]string{}
	}
	cfg.Runtime[name] = value
}

// IsUniqueViolation reports whether err is PostgreSQL's unique_violation on the named
// constraint or index (any, if name is empty).
func IsUniqueViolation(err error, name string) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return false
	}
	return name == "" || pe.Constraint == name
}
