// Command benchrun measures the importer against a raw COPY of the same rows, in one
// run (`make bench` runs it through scripts/bench.sh): see package internal/benchrun.
package main

import (
	"context"
	"flag"
	"io"

	"github.com/provisioner/provisioner/internal/benchrun"
	"github.com/provisioner/provisioner/internal/cmdline"
)

func main() { cmdline.Main("benchrun", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := benchrun.Config{Progress: stderr}
	fs.IntVar(&cfg.Rows, "rows", 1_000_000, "instruction rows to generate and import")
	fs.IntVar(&cfg.Rounds, "rounds", 3, "times the importer and the baselines each run, alternating")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the generated data")
	fs.StringVar(&cfg.ServerURL, "server", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"URL of any database on the server; the bench database is created beside it")
	fs.StringVar(&cfg.Database, "database", "provisioner_bench", "the database created, used and dropped")
	fs.StringVar(&cfg.Provisioner, "provisioner", "bin/provisioner", "the provisioner binary to measure")
	fs.StringVar(&cfg.Base, "base", "", "another provisioner build (before a change), whose import is measured in every round too")
	fs.StringVar(&cfg.Psql, "psql", "psql", "psql, for the raw COPY")
	fs.StringVar(&cfg.TempDir, "tmp", "", "where the generated files go (default: the system's temporary directory)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the database and the generated files")
	if err := cmdline.ParseNoArgs(fs, args); err != nil {
		return err
	}
	return benchrun.Run(ctx, cfg, stdout)
}
