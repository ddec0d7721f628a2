// Command consolebench times the operator console's pages on a database of millions
// of requests (`make bench-console` runs it through scripts/bench-console.sh): see
// package internal/consolebench.
package main

import (
	"context"
	"flag"
	"io"

	"github.com/provisioner/provisioner/internal/cmdline"
	"github.com/provisioner/provisioner/internal/consolebench"
)

func main() { cmdline.Main("consolebench", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("consolebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := consolebench.Config{Progress: stderr}
	fs.Int64Var(&cfg.Requests, "requests", 10_000_000, "requests to fill the database with")
	fs.IntVar(&cfg.Cards, "cards", 1_000_000, "smartcards (half as many subscriptions)")
	fs.IntVar(&cfg.Rounds, "rounds", 20, "timed loads of each page, after one to warm")
	fs.StringVar(&cfg.ServerURL, "server", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"URL of any database on the server; the bench database is created beside it")
	fs.StringVar(&cfg.Database, "database", "provisioner_consolebench", "the database created, used and dropped")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the database")
	fs.BoolVar(&cfg.Reuse, "reuse", false, "use the database if a bench of as many requests filled it (and keep it)")
	fs.StringVar(&cfg.Only, "only", "", "time only the pages whose name contains this")
	if err := cmdline.ParseNoArgs(fs, args); err != nil {
		return err
	}
	return consolebench.Run(ctx, cfg, stdout)
}
