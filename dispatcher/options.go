package dispatcher

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/provisioner/provisioner/casapi"
)

// Options tune a processing run. Zero values take the defaults (DefaultOptions).
type Options struct {
	BatchSize   int           // commands per batch (1 to casapi.MaxBatch)
	Concurrency int           // batches in flight at once (1 to MaxConcurrency)
	Rate        float64       // commands per second, all batches together (0: no limit)
	MaxRequests int           // stop claiming after this many (0: no limit)
	MaxDuration time.Duration // stop claiming after this long (0: no limit)
	Lease       time.Duration // how long a claim holds if the run dies (at least MinLease)
	MaxAttempts int           // sends before E_MAX_ATTEMPTS (1 to MaxAttemptsLimit)
	// MaxAttemptsAge: E_MAX_ATTEMPTS also needs this long since the request's first
	// counted send, so that no gateway outage shorter than it rejects anything
	// (issue 16, 0.1). Zero: the default (24h); negative (NoMaxAttemptsAge): no
	// minimum, MaxAttempts sends alone reject.
	MaxAttemptsAge time.Duration
	BackoffBase    time.Duration // first wait after an unsettled send
	BackoffCap     time.Duration // longest wait
	// FileID, when set, restricts the run to the process_immediately requests of
	// that import file: the importer's "send at once" path.
	FileID int64
	// RequestID, when set, restricts the run to that one request: the Web API's
	// process_immediately. It is sent only if it is due and first in its card's queue.
	RequestID int64
	// Observer, when set, is told of every batch sent and every outcome written
	// (metrics). Nil: none.
	Observer Observer
}

// The ranges of the options: Validate checks them, and the flags of `provisioner
// process` and the configuration file's jobs.process table name them.
const (
	MaxConcurrency   = 64
	MaxAttemptsLimit = 1000
	MinLease         = time.Second
	// NoMaxAttemptsAge is the MaxAttemptsAge of no minimum age: what 0 means to the
	// --max-attempts-age flag and the max_attempts_age key (MaxAttemptsAgeOption).
	NoMaxAttemptsAge = time.Duration(-1)
)

// MaxAttemptsAgeOption is Options.MaxAttemptsAge for the value of the flag or the
// configuration key, where 0 says "no minimum age".
func MaxAttemptsAgeOption(d time.Duration) time.Duration {
	if d == 0 {
		return NoMaxAttemptsAge
	}
	return d
}

// DefaultBatchTimeout is how long a run waits for the gateway's answer to one batch
// unless told otherwise (GatewayConfig.Timeout).
const DefaultBatchTimeout = 30 * time.Second

// DefaultOptions are the settings of a run that is given none: the defaults of
// `provisioner process`'s flags and of the configuration file.
func DefaultOptions() Options {
	return Options{
		BatchSize:   100,
		Concurrency: 4,
		Lease:       5 * time.Minute,
		MaxAttempts: 10,
		BackoffBase: 2 * time.Second,
		BackoffCap:  10 * time.Minute,
		// A night's maintenance window of the gateway, with room to spare.
		MaxAttemptsAge: 24 * time.Hour,
	}
}

// withDefaults fills the zero settings from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	for _, f := range []struct{ v, def *int }{{&o.BatchSize, &d.BatchSize}, {&o.Concurrency, &d.Concurrency}, {&o.MaxAttempts, &d.MaxAttempts}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *time.Duration }{{&o.Lease, &d.Lease}, {&o.BackoffBase, &d.BackoffBase}, {&o.BackoffCap, &d.BackoffCap}, {&o.MaxAttemptsAge, &d.MaxAttemptsAge}} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	return o
}

// An OptionError is a setting out of its range.
type OptionError struct {
	Option string // the field of Options, e.g. "BatchSize"
	Value  string // its value, e.g. "600"
	Rule   string // e.g. "must be 1 to 500"
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("%s %s: %s", optionWords[e.Option], e.Value, e.Rule)
}

// optionWords name the options in messages.
var optionWords = map[string]string{
	"BatchSize": "batch size", "Concurrency": "concurrency", "Rate": "rate", "MaxRequests": "max requests",
	"MaxDuration": "max duration", "Lease": "lease", "MaxAttempts": "max attempts", "BatchTimeout": "batch timeout",
	"MaxAttemptsAge": "max attempts age",
}

// Validate checks the settings as given (a zero that New would default is out of
// range here: call it on options with their defaults filled, as the flags and the
// configuration file are). The error is nil, or joins one *OptionError per setting
// out of its range, in the order of Options.
func (o Options) Validate() error {
	var errs []error
	check := func(ok bool, option, value, rule string) {
		if !ok {
			errs = append(errs, &OptionError{option, value, rule})
		}
	}
	ints := func(ok bool, option string, v int, rule string) { check(ok, option, strconv.Itoa(v), rule) }
	ints(o.BatchSize >= 1 && o.BatchSize <= casapi.MaxBatch, "BatchSize", o.BatchSize, fmt.Sprintf("must be 1 to %d", casapi.MaxBatch))
	ints(o.Concurrency >= 1 && o.Concurrency <= MaxConcurrency, "Concurrency", o.Concurrency, fmt.Sprintf("must be 1 to %d", MaxConcurrency))
	check(o.Rate >= 0 && !math.IsInf(o.Rate, 0), "Rate", strconv.FormatFloat(o.Rate, 'g', -1, 64), "must be a number, 0 or more") // NaN fails >= 0
	ints(o.MaxRequests >= 0, "MaxRequests", o.MaxRequests, "must be 0 or more (0: no limit)")
	check(o.MaxDuration >= 0, "MaxDuration", o.MaxDuration.String(), "must not be negative (0: no limit)")
	check(o.Lease >= MinLease, "Lease", o.Lease.String(), fmt.Sprintf("must be at least %v", MinLease))
	ints(o.MaxAttempts >= 1 && o.MaxAttempts <= MaxAttemptsLimit, "MaxAttempts", o.MaxAttempts, fmt.Sprintf("must be 1 to %d", MaxAttemptsLimit))
	check(o.MaxAttemptsAge > 0 || o.MaxAttemptsAge == NoMaxAttemptsAge, "MaxAttemptsAge", o.MaxAttemptsAge.String(), "must not be negative (0: no minimum age)")
	return errors.Join(errs...)
}

// CheckLease is the rule between a run's lease and its gateway's batch timeout: a
// batch still in flight when its lease runs out would be claimed and sent again by
// another run, harmless as a replay, but its two answers could disagree. So the
// lease is at least twice the batch timeout.
func CheckLease(lease, batchTimeout time.Duration) error {
	if lease < 2*batchTimeout {
		return &OptionError{"Lease", lease.String(), fmt.Sprintf("must be at least twice the batch timeout (%v)", batchTimeout)}
	}
	return nil
}

// CheckBatchTimeout is the range of a gateway's batch timeout (GatewayConfig.Timeout).
func CheckBatchTimeout(d time.Duration) error {
	if d <= 0 {
		return &OptionError{"BatchTimeout", d.String(), "must be positive"}
	}
	return nil
}

// Check names what New would refuse in a run on the gateway of gw with opts (their
// zero settings defaulted), without a database or a client: for commands that check
// their settings before they open the database.
func Check(gw GatewayConfig, opts Options) error {
	if err := gw.Check(); err != nil {
		return err
	}
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return err
	}
	return CheckLease(opts.Lease, gw.Timeout)
}

// Conns is how many database connections a run with these options uses at once:
// the loop claims on one while the writers write back and the senders release on
// others (one per batch in flight). A smaller pool made them wait, and reconnect;
// store.Open sizes the pool from it (store.Options.Conns).
func (o Options) Conns() int { return o.withDefaults().Concurrency + 2 }
