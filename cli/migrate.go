package cli

import (
	"context"

	"github.com/provisioner/provisioner/store"
)

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
