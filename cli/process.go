package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/casapi"
	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/instances"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/store"
)

// gatewayFlags are the settings of the CAS gateway and of a processing run. The
// gateway's address and credentials come from the environment (CAS_GATEWAY_URL,
// CAS_GATEWAY_TOKEN, CAS_DESTINATION_ID); --gateway-url overrides the first. The token
// has no flag: a flag would show it in `ps`.
type gatewayFlags struct {
	url, destination string
	timeout          time.Duration
	opts             dispatcher.Options
}

func addGatewayFlags(fs *flag.FlagSet) *gatewayFlags {
	g := &gatewayFlags{}
	d := dispatcher.DefaultOptions() // the defaults and ranges are the dispatcher's
	fs.StringVar(&g.url, "gateway-url", "", "CAS gateway base URL (default: $CAS_GATEWAY_URL)")
	fs.StringVar(&g.destination, "destination", "", "destination id we are known by (default: $CAS_DESTINATION_ID)")
	fs.DurationVar(&g.timeout, "batch-timeout", dispatcher.DefaultBatchTimeout, "how long to wait for the gateway's answer to one batch")
	fs.IntVar(&g.opts.BatchSize, "batch-size", d.BatchSize, fmt.Sprintf("commands per batch (1 to %d)", casapi.MaxBatch))
	fs.IntVar(&g.opts.Concurrency, "concurrency", d.Concurrency, "batches in flight at once")
	fs.Float64Var(&g.opts.Rate, "rate", d.Rate, "at most this many commands per second (0: no limit)")
	fs.IntVar(&g.opts.MaxAttempts, "max-attempts", d.MaxAttempts, "sends before a request is rejected with E_MAX_ATTEMPTS")
	fs.DurationVar(&g.opts.Lease, "lease", d.Lease, "how long a claim holds when a run dies before the requests are claimed again")
	g.opts.MaxAttemptsAge = d.MaxAttemptsAge
	fs.Var(maxAttemptsAge{&g.opts.MaxAttemptsAge}, "max-attempts-age",
		"E_MAX_ATTEMPTS also needs this long since the request's first counted send (0: no minimum age)")
	return g
}

// maxAttemptsAge is the --max-attempts-age flag: a duration whose 0 says "no
// minimum age" (dispatcher.MaxAttemptsAgeOption), not "the default".
type maxAttemptsAge struct{ d *time.Duration }

func (f maxAttemptsAge) String() string {
	if f.d == nil || *f.d == dispatcher.NoMaxAttemptsAge {
		return "0s"
	}
	return f.d.String()
}

func (f maxAttemptsAge) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	*f.d = dispatcher.MaxAttemptsAgeOption(d)
	return nil
}

func (g *gatewayFlags) config(env Env) dispatcher.GatewayConfig {
	cfg := dispatcher.GatewayConfig{URL: g.url, Token: env.Getenv("CAS_GATEWAY_TOKEN"), DestinationID: g.destination, Timeout: g.timeout}
	if cfg.URL == "" {
		cfg.URL = env.Getenv("CAS_GATEWAY_URL")
	}
	if cfg.DestinationID == "" {
		cfg.DestinationID = env.Getenv("CAS_DESTINATION_ID")
	}
	return cfg
}

// check names what is wrong with the settings, as a usage error, before the
// database is opened.
func (g *gatewayFlags) check(env Env) error {
	if err := jobs.CheckDispatcher(g.config(env), g.opts); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// dispatcher builds a dispatcher, or a usage error naming what is wrong.
func (g *gatewayFlags) dispatcher(env Env, db *store.DB, log logrus.FieldLogger, opts dispatcher.Options) (*dispatcher.Dispatcher, error) {
	d, err := jobs.NewDispatcher(db, log, g.config(env), opts)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return d, nil
}

func runProcess(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "process", "process [flags]\n\nPerforms one processing run: sends the due PENDING requests to the CAS gateway and\nwrites back what it said. SIGINT/SIGTERM: stops claiming, finishes what is in flight.")
	dbf := addDBFlags(fs)
	g := addGatewayFlags(fs)
	fs.IntVar(&g.opts.MaxRequests, "max-requests", 0, "stop claiming after this many requests (0: no limit)")
	fs.DurationVar(&g.opts.MaxDuration, "max-duration", 0, "stop claiming after this long (0: no limit)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("process takes no arguments, got %q", fs.Args())
	}
	env, log, err := dbf.configure(env)
	if err != nil {
		return err
	}
	if err := g.check(env); err != nil {
		return err // configuration first: before touching the database
	}
	dbf.conns = g.opts.Conns()
	db, err := dbf.open(ctx, env)
	if err != nil {
		return err
	}
	defer db.Close()
	d, err := g.dispatcher(env, db, log, g.opts)
	if err != nil {
		return err
	}
	stopBeat := startHeartbeat(ctx, db, log, instances.Process, "", func() string { return "processing run" })
	sum, err := d.Run(ctx)
	stopBeat()
	fmt.Fprintln(env.Stdout, jobs.ProcessResult(sum).Summary)
	if err != nil {
		return err
	}
	if sum.Rejected > 0 {
		return &rejectedError{fmt.Sprintf("%d requests rejected", sum.Rejected)}
	}
	return nil
}
