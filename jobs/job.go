package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/store"
)

// Env is what a job works with.
type Env struct {
	DB     *store.DB
	Log    logrus.FieldLogger
	Config *config.Config
	// Gateway, when set, hears of the processing runs' batches and results (metrics).
	Gateway dispatcher.Observer
}

// Result is what a run did.
type Result struct {
	// Counts by name, recorded in job_runs.counts: {"files": 2, "created": 118}.
	Counts map[string]int
	// Rejected counts the rows, files or requests rejected: more than 0 makes the
	// run REJECTED (exit 3).
	Rejected int
	// Summary is one line for the operator.
	Summary string
	// Idle: there was nothing to do (an empty inbox). The run is recorded as any
	// other, but its end is logged at debug: a quiet tick every minute is not news.
	Idle bool
}

// Job is one job: it does its work once and says what it did. The error is for a run
// that failed; ctx is cancelled at shutdown, and the job then stops as soon as it
// safely can.
type Job func(ctx context.Context, env Env) (Result, error)

// Spec is one job of the registry: its name (the ledger's job, `provisioner run
// NAME`, the configuration's [jobs.NAME] table, config.Config.Jobs) and its function.
type Spec struct {
	Name string
	Run  Job
}

// Registry is every job, in the order the commands and status list them (by
// name). Names and All derive from it; config.Config.Jobs holds a table for each.
// It is filled by init: Housekeeping sweeps the ledger of every job, Names, and a
// variable initialised with Housekeeping would be a cycle.
var Registry []Spec

// All are the jobs by name, from Registry.
var All = map[string]Job{}

func init() {
	Registry = []Spec{
		{"housekeeping", Housekeeping},
		{"import", Import},
		{"process", Process},
		{"reconcile", Reconcile},
	}
	for _, s := range Registry {
		All[s.Name] = s.Run
	}
}

// Names returns the jobs' names, in Registry's order.
func Names() []string {
	names := make([]string, len(Registry))
	for i, s := range Registry {
		names[i] = s.Name
	}
	return names
}

// ConfigError is a job that cannot run as configured (no inbox, no gateway token):
// exit 2 for `provisioner run`, FAILED in the ledger.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErrorf(format string, args ...any) error {
	return &ConfigError{fmt.Errorf(format, args...)}
}

// IsConfig reports whether err is a configuration problem.
func IsConfig(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}
