// Command apibench measures the Web API's creates per second beside pgbench's TPS
// on the same server, and the latency of a process_immediately call, in one run
// (`make bench` runs it through scripts/bench-api.sh): see package internal/apibench.
package main

import (
	"context"
	"flag"
	"io"
	"time"

	"github.com/provisioner/provisioner/internal/apibench"
	"github.com/provisioner/provisioner/internal/cmdline"
)

func main() { cmdline.Main("apibench", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apibench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := apibench.Config{Progress: stderr}
	fs.IntVar(&cfg.Rounds, "rounds", 3, "times pgbench, the creates and the immediate calls each run, alternating")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "of each pgbench and creates measurement")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "API callers at once, and pgbench clients")
	fs.IntVar(&cfg.Immediate, "immediate", 200, "process_immediately calls per round")
	fs.IntVar(&cfg.Cards, "cards", 20000, "smartcards of the generated fleet")
	fs.IntVar(&cfg.Scale, "scale", 10, "pgbench -i -s")
	fs.StringVar(&cfg.ServerURL, "server", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"URL of any database on the server; the bench databases are created beside it")
	fs.StringVar(&cfg.Database, "database", "provisioner_apibench", "the database created, used and dropped (and NAME_pgbench)")
	fs.StringVar(&cfg.Provisioner, "provisioner", "bin/provisioner", "the provisioner binary to measure")
	fs.StringVar(&cfg.Base, "base", "", "another provisioner build (before a change): its serve takes every other process_immediately call, on the same database")
	fs.StringVar(&cfg.Simulator, "simulator", "bin/cas-simulator", "the gateway simulator")
	fs.StringVar(&cfg.Pgbench, "pgbench", "pgbench", "pgbench")
	fs.BoolVar(&cfg.LogStatements, "log-statements", false, "have PostgreSQL log every statement of the bench database with its duration (to profile)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the databases and the generated files")
	if err := cmdline.ParseNoArgs(fs, args); err != nil {
		return err
	}
	return apibench.Run(ctx, cfg, stdout)
}
