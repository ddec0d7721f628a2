package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-migrate/migrate/v4/database"
	"github.com/lib/pq"

	provsql "github.com/provisioner/provisioner/sql"
)

// migrationDriver is golang-migrate's database driver for the provisioner's
// migrations, in place of golang-migrate's own postgres driver, so that `provisioner
// migrate` works through PgBouncer in transaction pooling mode (issue 16). That
// driver takes a session-level advisory lock (pg_advisory_lock), even to create its
// version table, and releases it in a later statement: through a pooler in
// transaction mode the two may run on different server connections, which leaves
// the lock on the first one for good (and every later migrate waiting for it).
//
// Here the lock is transaction-level (pg_advisory_xact_lock), taken in a transaction
// of its own that stays open, idle, while the migrations run on other connections,
// and ends at Unlock: a pooler keeps a transaction on one server connection, and
// PostgreSQL ends the lock with the transaction, or with the connection if migrate
// dies. Each migration file is one statement string (simple query protocol: one
// implicit transaction, one server connection), and the version is written in a
// transaction of its own, as golang-migrate's driver does, in its table and layout.
// The cost: migrate needs two server connections of the pool at once.
type migrationDriver struct {
	db  *sql.DB
	key int64 // the lock's key

	mu     sync.Mutex
	holder *sql.Tx            // the transaction holding the lock, while locked
	found  *int               // the version first read under the lock: what this migrate found
	cancel context.CancelFunc // ends a Lock still waiting (Close)
	closed bool
}

// newMigrationDriver reads the lock's key from the database.
func newMigrationDriver(ctx context.Context, db *sql.DB) (*migrationDriver, error) {
	var dbName, schema sql.NullString
	if err := db.QueryRowContext(ctx, provsql.MigrationLockKey).Scan(&dbName, &schema); err != nil {
		return nil, fmt.Errorf("read the migration lock's key: %w", err)
	}
	if !schema.Valid {
		return nil, errors.New("read the migration lock's key: no current schema (check search_path)")
	}
	// golang-migrate's key for its table, so that an older provisioner's migrate,
	// which locks that key in its session, and this one exclude each other.
	id, err := database.GenerateAdvisoryLockId(dbName.String, schema.String, "schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("migration lock's key: %w", err)
	}
	key, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("migration lock's key %q: %w", id, err)
	}
	return &migrationDriver{db: db, key: key}, nil
}

// Open is not used: Migrate hands golang-migrate the driver itself.
func (d *migrationDriver) Open(string) (database.Driver, error) {
	return nil, errors.New("store: the migration driver is made by store.Migrate, not opened by URL")
}

// Close ends the lock's transaction if it is held, or a Lock still waiting for it
// (golang-migrate gives up waiting after its LockTimeout but leaves Lock running).
// The *sql.DB is Migrate's to close.
func (d *migrationDriver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.cancel != nil {
		d.cancel()
	}
	if d.holder != nil {
		d.holder.Rollback()
		d.holder = nil
	}
	return nil
}

// Lock waits for the migration lock, then makes sure the version table exists.
func (d *migrationDriver) Lock() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return errors.New("migration driver closed")
	}
	if d.holder != nil || d.cancel != nil {
		d.mu.Unlock()
		return database.ErrLocked
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.mu.Unlock()

	tx, err := d.lock(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cancel = nil
	cancel()
	switch {
	case err != nil:
		return err
	case d.closed:
		tx.Rollback()
		return errors.New("migration driver closed")
	}
	d.holder = tx
	return nil
}

// lock takes the lock in a new transaction, trying again until it gets it or ctx
// ends. Between tries the transaction is ended, so that a migrate waiting for
// another holds no server connection of a pooler (the other needs two).
func (d *migrationDriver) lock(ctx context.Context) (*sql.Tx, error) {
	wait := 50 * time.Millisecond
	for {
		tx, err := d.tryLock(ctx)
		if err != nil || tx != nil {
			return tx, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("take the migration lock: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// tryLock returns the transaction that holds the lock, or nil if another has it.
// ctx bounds the statements, not the transaction (database/sql rolls a transaction
// back when its context ends).
func (d *migrationDriver) tryLock(ctx context.Context) (*sql.Tx, error) {
	tx, err := d.db.BeginTx(context.Background(), nil)
	if err != nil {
		return nil, fmt.Errorf("take the migration lock: %w", err)
	}
	var got bool
	if err := tx.QueryRowContext(ctx, provsql.MigrationLock, d.key).Scan(&got); err != nil || !got {
		tx.Rollback()
		if err != nil {
			return nil, fmt.Errorf("take the migration lock: %w", err)
		}
		return nil, nil
	}
	// The table on another connection, in its own statement: the lock's
	// transaction stays idle until Unlock.
	if _, err := d.db.ExecContext(ctx, provsql.SchemaMigrationsCreate); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("create the table schema_migrations: %w", err)
	}
	return tx, nil
}

// Unlock ends the lock's transaction, and with it the lock. An error says the lock
// was lost while migrating (the session ended: a connection cut, an
// idle_in_transaction_session_timeout on the server or PgBouncer's
// idle_transaction_timeout), so another migrate may have run at the same time.
func (d *migrationDriver) Unlock() error {
	d.mu.Lock()
	tx := d.holder
	d.holder = nil
	d.mu.Unlock()
	if tx == nil {
		return database.ErrNotLocked
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("release the migration lock (it may have been lost while migrating: check that no other migrate ran meanwhile): %w", err)
	}
	return nil
}

// Run applies one migration file as one statement string: PostgreSQL runs its
// statements in one implicit transaction, on one server connection.
func (d *migrationDriver) Run(migration io.Reader) error {
	body, err := io.ReadAll(migration)
	if err != nil {
		return fmt.Errorf("read migration: %w", err)
	}
	text := string(body)
	if strings.TrimSpace(text) == "" {
		return nil
	}
	if _, err := d.db.ExecContext(context.Background(), text); err != nil {
		var pe *pq.Error
		if errors.As(err, &pe) && pe.Position != "" {
			if pos, perr := strconv.Atoi(pe.Position); perr == nil && pos > 0 && pos <= len([]rune(text)) {
				line := 1 + strings.Count(string([]rune(text)[:pos-1]), "\n")
				return fmt.Errorf("migration failed at line %d: %w", line, err)
			}
		}
		return fmt.Errorf("migration failed: %w", err)
	}
	return nil
}

// SetVersion records the schema version, in one transaction, as golang-migrate's
// driver does: no row for no version (unless dirty).
func (d *migrationDriver) SetVersion(version int, dirty bool) error {
	ctx := context.Background()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record schema version %d: %w", version, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, provsql.SchemaMigrationsClear); err != nil {
		return fmt.Errorf("record schema version %d: %w", version, err)
	}
	if version >= 0 || (version == database.NilVersion && dirty) {
		if _, err := tx.ExecContext(ctx, provsql.SchemaMigrationsSet, version, dirty); err != nil {
			return fmt.Errorf("record schema version %d: %w", version, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record schema version %d: %w", version, err)
	}
	return nil
}

// Version reads the recorded schema version: NilVersion when there is none.
func (d *migrationDriver) Version() (int, bool, error) {
	var version int
	var dirty bool
	err := d.db.QueryRowContext(context.Background(), provsql.SchemaVersion).Scan(&version, &dirty)
	var pe *pq.Error
	switch {
	case errors.Is(err, sql.ErrNoRows), errors.As(err, &pe) && pe.Code == "42P01":
		version, dirty = database.NilVersion, false
	case err != nil:
		return 0, false, fmt.Errorf("read schema version: %w", err)
	}
	d.mu.Lock()
	if d.holder != nil && d.found == nil {
		d.found = &version
	}
	d.mu.Unlock()
	return version, dirty, nil
}

// foundVersion is the version recorded when this migrate got the lock (golang-migrate
// reads it first thing under the lock), or before if it never got it: a migrate
// that waited for another finds the other's work done.
func (d *migrationDriver) foundVersion(before uint) uint {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.found == nil:
		return before
	case *d.found < 0:
		return 0
	}
	return uint(*d.found)
}

// Drop is not offered: no command of the provisioner drops its schema.
func (d *migrationDriver) Drop() error {
	return errors.New("store: dropping the schema is not supported")
}
