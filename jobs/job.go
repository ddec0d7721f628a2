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
}

// Job is one job: it does its work once and says what it did. The error is for a run
// that failed; ctx is cancelled at shutdown, and the job then stops as soon as it
// safely can.
type Job func(ctx context.Context, env Env) (Result, error)

// All are the jobs by name.
var All = map[string]Job{
	"import":       Import,
	"process":      Process,
	"housekeeping": Housekeeping,
}

// Names returns the jobs' names, sorted.
func Names() []string { return []string{"housekeeping", "import", "process"} }

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
