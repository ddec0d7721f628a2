package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/lib/pq"

	provsql "github.com/provisioner/provisioner/sql"
)

// ErrSchema is the error of CheckSchema: the database's schema is not the one this
// binary was built for. Its message says what to do.
var ErrSchema = errors.New("database schema")

// MigrationLockTimeout is how long Migrate waits for another migrate to finish.
const MigrationLockTimeout = time.Minute

// LatestVersion is the version of the newest migration embedded in this binary.
func LatestVersion() uint {
	entries, err := fs.ReadDir(provsql.Migrations(), ".")
	if err != nil {
		panic(err) // embedded at build time
	}
	var latest uint
	for _, e := range entries {
		digits, _, _ := strings.Cut(e.Name(), "_")
		if v, err := strconv.ParseUint(digits, 10, 32); err == nil && uint(v) > latest {
			latest = uint(v)
		}
	}
	return latest
}

// Migrate brings the database at dsn to the latest schema and returns the versions
// before and after. Concurrent runs wait for each other on a transaction-level lock
// (migrationDriver), which works directly and through PgBouncer in transaction
// pooling mode alike.
func Migrate(ctx context.Context, dsn string) (from, to uint, err error) {
	cfg, err := connConfig(dsn)
	if err != nil {
		return 0, 0, err
	}
	connector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return 0, 0, fmt.Errorf("open database %s: %w", Redact(dsn), redactErr(dsn, err))
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return 0, 0, fmt.Errorf("connect to database %s: %w", Redact(dsn), redactErr(dsn, err))
	}
	src, err := iofs.New(provsql.Migrations(), ".")
	if err != nil {
		return 0, 0, fmt.Errorf("read migrations: %w", err)
	}
	driver, err := newMigrationDriver(ctx, db)
	if err != nil {
		return 0, 0, fmt.Errorf("prepare migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "postgres", driver)
	if err != nil {
		return 0, 0, fmt.Errorf("prepare migrations: %w", err)
	}
	m.LockTimeout = MigrationLockTimeout
	defer m.Close()

	from, dirty, err := m.Version()
	switch {
	case errors.Is(err, migrate.ErrNilVersion):
		from = 0
	case err != nil:
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	case dirty:
		return from, from, fmt.Errorf("%w: migration %d failed half-way (dirty); repair it by hand, then run `provisioner migrate` again", ErrSchema, from)
	}
	switch err := m.Up(); {
	case errors.Is(err, migrate.ErrLockTimeout):
		return from, from, fmt.Errorf("migrate from version %d: another migrate has held the migration lock for %v: let it finish, then run `provisioner migrate` again", from, MigrationLockTimeout)
	case err != nil && !errors.Is(err, migrate.ErrNoChange):
		return from, from, fmt.Errorf("migrate from version %d: %w", from, err)
	}
	from = driver.foundVersion(from)
	to, _, err = m.Version()
	if err != nil {
		return from, 0, fmt.Errorf("read schema version: %w", err)
	}
	return from, to, nil
}

// CheckSchema returns an ErrSchema error that says what to do when the database's
// schema is missing, older or newer than this binary's, or half-migrated.
func CheckSchema(ctx context.Context, db *DB) error {
	var version int64
	var dirty bool
	err := db.QueryRowContext(ctx, provsql.SchemaVersion).Scan(&version, &dirty)
	var pe *pq.Error
	switch {
	case errors.As(err, &pe) && pe.Code == "42P01", errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w is missing: run `provisioner migrate` first", ErrSchema)
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := int64(LatestVersion())
	switch {
	case dirty:
		return fmt.Errorf("%w: migration %d failed half-way (dirty); repair it by hand, then run `provisioner migrate`", ErrSchema, version)
	case version < latest:
		return fmt.Errorf("%w is at version %d, this provisioner needs %d: run `provisioner migrate`", ErrSchema, version, latest)
	case version > latest:
		return fmt.Errorf("%w is at version %d, newer than this provisioner knows (%d): upgrade the provisioner", ErrSchema, version, latest)
	}
	return nil
}
