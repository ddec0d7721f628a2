// Command reconbench measures the reconciliation of a fleet against the gateway
// simulator in a process of its own (`make bench` runs it through
// scripts/bench-reconcile.sh): see package internal/reconbench.
package main

import (
	"context"
	"flag"
	"io"

	"github.com/provisioner/provisioner/internal/cmdline"
	"github.com/provisioner/provisioner/internal/reconbench"
)

func main() { cmdline.Main("reconbench", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reconbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := reconbench.Config{Progress: stderr}
	fs.IntVar(&cfg.Cards, "cards", 1_000_000, "smartcards of the fleet, all with entitlements")
	fs.Float64Var(&cfg.DriftFraction, "drift", 0.01, "share of the cards drifted on the gateway")
	fs.IntVar(&cfg.Concurrency, "concurrency", 4, "queries of 500 cards in flight")
	fs.StringVar(&cfg.ServerURL, "server", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"URL of any database on the server; the bench database is created beside it")
	fs.StringVar(&cfg.Database, "database", "provisioner_reconbench", "the database created, used and dropped")
	fs.StringVar(&cfg.Provisioner, "provisioner", "bin/provisioner", "the provisioner binary to measure")
	fs.StringVar(&cfg.Simulator, "simulator", "bin/cas-simulator", "the gateway simulator binary")
	fs.StringVar(&cfg.TempDir, "tmp", "", "where the generated files go (default: the system's temporary directory)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the database and the generated files")
	fs.StringVar(&cfg.Reuse, "reuse", "", "the folder of a run kept with -keep (its database named by -database): measure again without a new fleet")
	fs.StringVar(&cfg.Baseline, "baseline", "", "another provisioner binary (main's, say) measured in the same run, alternated")
	fs.IntVar(&cfg.Rounds, "rounds", 1, "reconciliations of each binary")
	if err := cmdline.ParseNoArgs(fs, args); err != nil {
		return err
	}
	return reconbench.Run(ctx, cfg, stdout)
}
