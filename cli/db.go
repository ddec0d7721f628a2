package cli

import (
	"context"
	"errors"
	"flag"
	"time"

	"github.com/provisioner/provisioner/store"
)

// dbFlag adds --database-url, which overrides DATABASE_URL.
func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("database-url", "", "PostgreSQL URL (default: $DATABASE_URL)")
}

func databaseURL(env Env, flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if u := env.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	return "", usagef("no database: set DATABASE_URL (for example postgres://user@127.0.0.1:5432/provisioner?sslmode=disable) or pass --database-url")
}

// openDB opens the database and checks that its schema is this binary's.
func openDB(ctx context.Context, env Env, flagValue string) (*store.DB, error) {
	return openPool(ctx, env, flagValue, 0)
}

// openPool is openDB for a command that uses conns connections at once (a
// processing run: dispatcher.Options.Conns); 0 for the default pool.
func openPool(ctx context.Context, env Env, flagValue string, conns int) (*store.DB, error) {
	dsn, err := databaseURL(env, flagValue)
	if err != nil {
		return nil, err
	}
	opts, err := dbOptions(env)
	if err != nil {
		return nil, err
	}
	opts.Conns = conns
	db, err := store.Open(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	if err := store.CheckSchema(ctx, db); err != nil {
		db.Close()
		if errors.Is(err, store.ErrSchema) {
			return nil, &usageError{err.Error()} // a set-up problem, not a failure of the run
		}
		return nil, err
	}
	return db, nil
}

// dbOptions reads DATABASE_STATEMENT_TIMEOUT (or the configuration's
// database.statement_timeout): a Go duration, 0 for none.
func dbOptions(env Env) (store.Options, error) {
	var o store.Options
	if v := env.Getenv("DATABASE_STATEMENT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return o, usagef("DATABASE_STATEMENT_TIMEOUT=%q: not a duration such as 30s or 2m (0: no timeout)", v)
		}
		o.StatementTimeout = d
		if d == 0 {
			o.StatementTimeout = -1 // none
		}
	}
	return o, nil
}

func runMigrate(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "migrate", "migrate [--database-url URL]")
	dbURL := dbFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("migrate takes no arguments, got %q", fs.Args())
	}
	log, err := newLogger(env)
	if err != nil {
		return err
	}
	dsn, err := databaseURL(env, *dbURL)
	if err != nil {
		return err
	}
	from, to, err := store.Migrate(ctx, dsn)
	if err != nil {
		return err
	}
	if from == to {
		log.WithField("version", to).Info("schema is up to date")
	} else {
		log.WithFields(map[string]any{"from": from, "to": to}).Info("schema migrated")
	}
	return nil
}
