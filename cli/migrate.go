package cli

import (
	"context"

	"github.com/provisioner/provisioner/store"
)

func runMigrate(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "migrate", "migrate [--database-url URL]")
	dbf := addDBFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("migrate takes no arguments, got %q", fs.Args())
	}
	env, log, err := dbf.configure(env)
	if err != nil {
		return err
	}
	// Not dbf.open: that checks that the schema is this binary's.
	dsn, err := databaseURL(env, dbf.url)
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
