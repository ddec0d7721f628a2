package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/internal/cmdline"
	"github.com/provisioner/provisioner/reference"
	"github.com/provisioner/provisioner/simulator"
)

// Environment variables that stand in for -token and -destination.
const (
	envToken       = "CAS_GATEWAY_TOKEN"
	envDestination = "CAS_DESTINATION_ID"
)

// getenv is a variable so that tests set the environment without touching
// the process's.
var getenv = os.Getenv

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cmdline.Exit("cas-simulator", err, os.Stderr))
}

// usagef is a bad flag or setting: exit status 2.
var usagef = cmdline.Usagef

type options struct {
	addr, reference, token, destination, logLevel string
	seed                                          int64
	disabled                                      string
	faults                                        simulator.Faults
	entitled, noQuery                             bool
}

// parse reads the flags and the environment and checks every value on its
// own, naming the flag that is wrong.
func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("cas-simulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:7070", "`host:port` to listen on (port 0: any free port)")
	fs.StringVar(&o.reference, "reference", "", "reference-data `dir`ectory (smartcards.csv, stbs.csv, products.csv); required")
	fs.StringVar(&o.token, "token", "", "bearer token the gateway accepts; or "+envToken)
	fs.StringVar(&o.destination, "destination", "", "X-Destination-Id the gateway knows, e.g. CRM01; or "+envDestination)
	fs.Int64Var(&o.seed, "seed", 1, "seed of every random choice: the same seed repeats a run")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: error, warn, info or debug (debug logs every request)")
	f := &o.faults
	fs.DurationVar(&f.Latency, "latency", 0, "time spent on every batch before applying it")
	fs.DurationVar(&f.Jitter, "jitter", 0, "random extra latency, up to this much")
	fs.Float64Var(&f.RateLimit, "rate-limit", 0, "batches per second above which a batch gets 429 (0: no limit)")
	fs.IntVar(&f.RateBurst, "rate-burst", 1, "batches allowed at once above -rate-limit")
	fs.DurationVar(&f.RetryAfter, "retry-after", 0, "Retry-After of 429 and 503 (0: until the next token for 429, 1s for 503)")
	fs.Float64Var(&f.Unavailable, "unavailable", 0, "probability of 503 for a batch, nothing applied")
	fs.Float64Var(&f.PartialFailure, "partial-failure", 0, "probability of 500 after applying a random prefix of a batch")
	fs.Float64Var(&f.DropAfterApply, "drop-after-apply", 0, "probability of closing the connection without an answer after applying a batch")
	fs.Float64Var(&f.StallAfterApply, "stall-after-apply", 0, "probability of waiting -stall after applying a batch before answering")
	fs.DurationVar(&f.Stall, "stall", time.Minute, "how long a stalled batch waits before its answer")
	fs.Float64Var(&f.Busy, "busy", 0, "probability per command of RETRY with E_BUSY, not applied")
	fs.StringVar(&o.disabled, "disabled", "", "comma-separated smartcard CA ids that are DISABLED")
	fs.Float64Var(&f.DisabledFraction, "disabled-fraction", 0, "share of the smartcards that are DISABLED, chosen by -seed")
	fs.BoolVar(&o.entitled, "entitled", false, "start each card of the reference directory's entitlements.csv in the state it lists (a gateway in sync with the CRM)")
	fs.Float64Var(&f.DriftFraction, "drift-fraction", 0, "share of the -entitled cards that drifted at the start (a product lost or gained, a pairing lost), chosen by -seed")
	fs.BoolVar(&o.noQuery, "no-query", false, "a gateway of interface version 1.0: POST /v1/smartcards/query is answered 405")
	if err := cmdline.Parse(fs, args); err != nil {
		return o, err // the flag package has printed the message and the usage already
	}
	if fs.NArg() > 0 {
		return o, usagef("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if !set["token"] {
		o.token = getenv(envToken)
	}
	if !set["destination"] {
		o.destination = getenv(envDestination)
	}
	if o.token == "" {
		return o, usagef("-token (or %s) is required", envToken)
	}
	if o.destination == "" {
		return o, usagef("-destination (or %s) is required", envDestination)
	}
	if o.reference == "" {
		return o, usagef("-reference is required")
	}
	if st, err := os.Stat(o.reference); err != nil || !st.IsDir() {
		// ReadKnown reads a missing directory as an empty one: a typo
		// would start a gateway that knows nothing.
		return o, usagef("-reference %s: not a directory", o.reference)
	}
	if _, err := logrus.ParseLevel(o.logLevel); err != nil {
		return o, usagef("-log-level %q: expected error, warn, info or debug", o.logLevel)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{
		{"unavailable", f.Unavailable}, {"partial-failure", f.PartialFailure},
		{"drop-after-apply", f.DropAfterApply}, {"stall-after-apply", f.StallAfterApply},
		{"busy", f.Busy}, {"disabled-fraction", f.DisabledFraction}, {"drift-fraction", f.DriftFraction},
	} {
		if !(p.v >= 0 && p.v <= 1) {
			return o, usagef("-%s %v: expected a probability from 0 to 1", p.name, p.v)
		}
	}
	if sum := f.PartialFailure + f.DropAfterApply + f.StallAfterApply; sum > 1 {
		return o, usagef("-partial-failure + -drop-after-apply + -stall-after-apply is %v: expected at most 1 (at most one fires per batch)", sum)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"latency", f.Latency}, {"jitter", f.Jitter}, {"retry-after", f.RetryAfter}, {"stall", f.Stall}} {
		if d.v < 0 {
			return o, usagef("-%s %v: expected a duration of at least 0", d.name, d.v)
		}
	}
	if f.StallAfterApply > 0 && f.Stall <= 0 {
		return o, usagef("-stall %v: expected more than 0 with -stall-after-apply", f.Stall)
	}
	if !(f.RateLimit >= 0) || math.IsInf(f.RateLimit, 0) {
		return o, usagef("-rate-limit %v: expected batches per second, at least 0", f.RateLimit)
	}
	if f.RateBurst < 1 {
		return o, usagef("-rate-burst %d: expected at least 1", f.RateBurst)
	}
	for _, sc := range strings.Split(o.disabled, ",") {
		if sc = strings.TrimSpace(sc); sc != "" {
			f.DisabledSmartcards = append(f.DisabledSmartcards, sc)
		}
	}
	return o, nil
}

// run parses args, loads the reference data and serves the simulator until
// ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	log := logrus.New()
	log.SetOutput(stderr)
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	lvl, _ := logrus.ParseLevel(o.logLevel) // checked in parse
	log.SetLevel(lvl)

	var known simulator.Known
	known.Smartcards, known.STBs, known.Products, err = reference.ReadKnown(o.reference)
	if err != nil {
		return fmt.Errorf("read reference data: %w", err)
	}
	if o.entitled {
		if known.Entitled, err = reference.ReadEntitled(o.reference); err != nil {
			return fmt.Errorf("read entitlements: %w", err)
		}
	}
	for _, sc := range o.faults.DisabledSmartcards {
		if !slices.Contains(known.Smartcards, sc) {
			return usagef("-disabled %s: not a smartcard CA id of %s", sc, o.reference)
		}
	}
	if len(known.Smartcards) == 0 {
		log.Warnf("%s has no smartcards: every command will be answered E_UNKNOWN_SMARTCARD", o.reference)
	}
	cfg := simulator.Config{Token: o.token, DestinationID: o.destination, Seed: o.seed, Faults: o.faults, NoQuery: o.noQuery}
	if err := cfg.Check(known); err != nil {
		return usagef("%v", err) // parse checks the same; this is a backstop
	}
	sim := simulator.New(cfg, known)

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           simulator.LogRequests(log, sim),
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	log.WithFields(logrus.Fields{
		"addr": ln.Addr().String(), "destination": o.destination, "seed": o.seed,
		"smartcards": len(known.Smartcards), "stbs": len(known.STBs), "products": len(known.Products),
	}).Info("CAS gateway simulator started")
	log.WithField("faults", fmt.Sprintf("%+v", o.faults)).Debug("faults")
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sim.Close() // ends stalls and latencies, which would otherwise hold Shutdown
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	st := sim.Stats()
	log.WithFields(logrus.Fields{
		"batches": st.Batches, "commands": st.CommandsReceived, "applied": st.Applied,
		"replayed": st.Replayed, "rejected": st.Rejected, "retried": st.Retried,
	}).Info("stopped")
	return nil
}
