package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
	_ "time/tzdata" // CRON_TZ= and scheduler.timezone work on hosts without a zone database

	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/dispatcher"
	"github.com/provisioner/provisioner/reconcile"
	"github.com/provisioner/provisioner/store"
)

// Job is the schedule of one job.
type Job struct {
	// Schedule is the cron spec as written: 5 fields, or 6 with seconds first,
	// optionally prefixed by CRON_TZ=Zone. Empty: the job is not scheduled (it can
	// still be run with `provisioner run`).
	Schedule string
	// CatchUp: when the scheduler starts and finds that ticks of this job were
	// missed (every instance was down), it runs the job once for the latest of them.
	CatchUp bool
	// Cron is Schedule parsed, in scheduler.timezone unless it names its own zone;
	// nil when the job is not scheduled.
	Cron cron.Schedule
}

// ImportJob is the import of the inbox.
type ImportJob struct {
	Job
	Inbox  string        // the inbox directory
	Settle time.Duration // leave files changed more recently alone
	Chunk  int           // rows checked against the reference data together
	// FileTimeout bounds one file's transaction in the database (its COPY).
	FileTimeout time.Duration
}

// ProcessJob is a processing run (the settings of `provisioner process`).
type ProcessJob struct {
	Job
	BatchSize   int
	Concurrency int
	Rate        float64 // commands per second, 0: no limit
	MaxRequests int     // 0: no limit
	MaxDuration time.Duration
	Lease       time.Duration
	MaxAttempts int
	// MaxAttemptsAge: E_MAX_ATTEMPTS also needs this long since the first counted
	// send (0: no minimum age).
	MaxAttemptsAge time.Duration
}

// Options are the processing run's settings (dispatcher.Options): their defaults
// and ranges are the dispatcher's.
func (p ProcessJob) Options() dispatcher.Options {
	return dispatcher.Options{
		BatchSize: p.BatchSize, Concurrency: p.Concurrency, Rate: p.Rate, MaxRequests: p.MaxRequests,
		MaxDuration: p.MaxDuration, Lease: p.Lease, MaxAttempts: p.MaxAttempts,
		MaxAttemptsAge: dispatcher.MaxAttemptsAgeOption(p.MaxAttemptsAge),
	}
}

// processKeys are the keys of the settings of ProcessJob.Options, by field.
var processKeys = map[string]string{
	"BatchSize": "jobs.process.batch_size", "Concurrency": "jobs.process.concurrency", "Rate": "jobs.process.rate",
	"MaxRequests": "jobs.process.max_requests", "MaxDuration": "jobs.process.max_duration",
	"Lease": "jobs.process.lease", "MaxAttempts": "jobs.process.max_attempts",
	"MaxAttemptsAge": "jobs.process.max_attempts_age",
}

// HousekeepingJob removes what has been kept long enough. A zero age turns its part off.
type HousekeepingJob struct {
	Job
	// FilesAfter: archive/, rejects/ and failed/ files of the inbox older than this
	// are deleted, or moved under MoveTo when it is set.
	FilesAfter time.Duration
	MoveTo     string
	// RequestsAfter: COMPLETED and REJECTED requests executed longer ago than this
	// are deleted. Off by default: requests are the record of what was sent to the
	// CAS.
	RequestsAfter time.Duration
	// RunsAfter: finished job_runs and processes records older than this are deleted.
	RunsAfter time.Duration
	// StaleProcessAfter: a processes row still RUNNING this long after its start,
	// holding no live lease, is a run that died: it is marked FAILED.
	StaleProcessAfter time.Duration
}

// ReconcileJob is a reconciliation run of every card with entitlements (the settings
// of `provisioner reconcile --all`). Not scheduled by default.
type ReconcileJob struct {
	Job
	Reports        string  // the drift reports' folder
	MaxCorrections float64 // a share of the cards checked (0.05: 5%)
	Priority       string  // of the corrections: REGULAR or EXPRESS
	Process        bool    // a processing run right after, to send the corrections
	Force          bool    // create the corrections even over MaxCorrections
}

// Config is every setting.
type Config struct {
	Path string // the file it was read from ("" for defaults only)

	Log struct {
		Level  string // logrus level; LOG_LEVEL overrides
		Format string // text, json, or "" (text on a terminal); LOG_FORMAT overrides
	}
	Database struct {
		URL string // DATABASE_URL overrides
		// StatementTimeout bounds every statement ("30s"; "0": none; empty: the
		// default, store.DefaultStatementTimeout); DATABASE_STATEMENT_TIMEOUT overrides.
		StatementTimeout string
	}
	Gateway struct {
		URL          string // CAS_GATEWAY_URL overrides
		Destination  string // CAS_DESTINATION_ID overrides
		Token        string // CAS_GATEWAY_TOKEN only: never read from the file
		BatchTimeout time.Duration
	}
	Scheduler struct {
		Timezone string         // of cron specs without CRON_TZ=
		Location *time.Location // Timezone loaded
		// GracePeriod: at SIGTERM, how long running jobs may take to finish before
		// their context is cancelled.
		GracePeriod time.Duration
		// MetricsListen: the address the scheduler serves /metrics on; "" = off.
		MetricsListen string
		// Instance names this scheduler in the run ledger; "" = host:pid.
		Instance string
	}

	Import       ImportJob
	Process      ProcessJob
	Housekeeping HousekeepingJob
	Reconcile    ReconcileJob

	// Warnings are things that work but deserve the operator's attention.
	Warnings []string
}

// Default returns the configuration with every default, and no job scheduled.
func Default() *Config {
	c := &Config{}
	c.Log.Level = "info"
	c.Gateway.BatchTimeout = dispatcher.DefaultBatchTimeout
	c.Scheduler.Timezone = "UTC"
	c.Scheduler.Location = time.UTC
	c.Scheduler.GracePeriod = 2 * time.Minute
	c.Import.Settle = 5 * time.Second
	c.Import.Chunk = 2000
	c.Import.FileTimeout = time.Hour
	d := dispatcher.DefaultOptions()
	c.Process.BatchSize, c.Process.Concurrency, c.Process.Rate = d.BatchSize, d.Concurrency, d.Rate
	c.Process.MaxRequests, c.Process.MaxDuration = d.MaxRequests, d.MaxDuration
	c.Process.Lease, c.Process.MaxAttempts, c.Process.MaxAttemptsAge = d.Lease, d.MaxAttempts, d.MaxAttemptsAge
	c.Housekeeping.FilesAfter = 30 * 24 * time.Hour
	c.Housekeeping.RunsAfter = 90 * 24 * time.Hour
	c.Housekeeping.StaleProcessAfter = 6 * time.Hour
	c.Reconcile.Reports = "reports"
	c.Reconcile.MaxCorrections = reconcile.DefaultMaxCorrections
	c.Reconcile.Priority = "REGULAR"
	return c
}

// Jobs returns the schedule of each job by name.
func (c *Config) Jobs() map[string]*Job {
	return map[string]*Job{"import": &c.Import.Job, "process": &c.Process.Job, "housekeeping": &c.Housekeeping.Job,
		"reconcile": &c.Reconcile.Job}
}

// Problem is one mistake in the file.
type Problem struct {
	Line int    // 0: not at a line (a default, or the file as a whole)
	Key  string // the setting, e.g. jobs.process.batch_size
	Msg  string
}

// Problems are all the mistakes found in one file.
type Problems struct {
	File string
	List []Problem
}

func (p *Problems) Error() string {
	var b strings.Builder
	for i, pr := range p.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.File)
		if pr.Line > 0 {
			fmt.Fprintf(&b, ":%d", pr.Line)
		}
		b.WriteString(": ")
		if pr.Key != "" {
			b.WriteString(pr.Key + ": ")
		}
		b.WriteString(pr.Msg)
	}
	return b.String()
}

// ErrNoFile is returned by Load when no file is given: neither a path nor
// $PROVISIONER_CONFIG.
var ErrNoFile = errors.New("no configuration file: pass --config FILE or set PROVISIONER_CONFIG")

// Load reads the file at path (or $PROVISIONER_CONFIG when path is empty), checks it,
// and applies the environment's overrides. A file with mistakes returns *Problems
// naming each of them.
func Load(path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		path = getenv("PROVISIONER_CONFIG")
	}
	if path == "" {
		return nil, ErrNoFile
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	c.Path = path
	c.applyEnv(getenv)
	if store.HasPassword(c.Database.URL) && getenv("DATABASE_URL") == "" {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o007 != 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s holds the database password and is readable by others (mode %v): chmod 600 it, or set DATABASE_URL in the environment instead", path, st.Mode().Perm()))
		}
	}
	return c, nil
}

// applyEnv lets the environment override the file: secrets live there, and so do the
// settings that differ between hosts sharing one file.
func (c *Config) applyEnv(getenv func(string) string) {
	for name, dst := range map[string]*string{
		"DATABASE_URL":               &c.Database.URL,
		"DATABASE_STATEMENT_TIMEOUT": &c.Database.StatementTimeout,
		"CAS_GATEWAY_URL":            &c.Gateway.URL,
		"CAS_GATEWAY_TOKEN":          &c.Gateway.Token,
		"CAS_DESTINATION_ID":         &c.Gateway.Destination,
		"LOG_LEVEL":                  &c.Log.Level,
		"LOG_FORMAT":                 &c.Log.Format,
	} {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
}

// Getenv returns a getenv that answers from the environment first, then from the
// file: code that reads DATABASE_URL, LOG_LEVEL... sees the configuration's values.
func (c *Config) Getenv(getenv func(string) string) func(string) string {
	fromFile := map[string]string{
		"DATABASE_URL":               c.Database.URL,
		"DATABASE_STATEMENT_TIMEOUT": c.Database.StatementTimeout,
		"CAS_GATEWAY_URL":            c.Gateway.URL,
		"CAS_GATEWAY_TOKEN":          c.Gateway.Token,
		"CAS_DESTINATION_ID":         c.Gateway.Destination,
		"LOG_LEVEL":                  c.Log.Level,
		"LOG_FORMAT":                 c.Log.Format,
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return fromFile[name]
	}
}

// cronParser takes 5 fields, or 6 with seconds first, and the @hourly family.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron spec in loc unless the spec names its own zone with
// CRON_TZ= (or TZ=).
func ParseSchedule(spec string, loc *time.Location) (cron.Schedule, error) {
	spec = strings.TrimSpace(spec)
	body := spec
	if strings.HasPrefix(body, "CRON_TZ=") || strings.HasPrefix(body, "TZ=") {
		_, body, _ = strings.Cut(body, " ")
	} else {
		spec = "CRON_TZ=" + loc.String() + " " + spec
	}
	if strings.HasPrefix(strings.TrimSpace(body), "@every") {
		// @every counts from each instance's start: two instances would name different
		// ticks, and the run ledger could not tell that they are the same run.
		return nil, errors.New("@every is not aligned to the clock; write a cron spec such as */5 * * * *")
	}
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// checkLevel and the others check one value; their messages follow the key's name.
func checkLevel(s string) error {
	if _, err := logrus.ParseLevel(s); err != nil {
		return fmt.Errorf("%q: expected one of panic, fatal, error, warn, info, debug, trace", s)
	}
	return nil
}

func checkFormat(s string) error {
	if s != "" && s != "text" && s != "json" {
		return fmt.Errorf("%q: expected text or json (or leave it out: text on a terminal, json otherwise)", s)
	}
	return nil
}

func checkHTTPURL(s string) error {
	if s == "" {
		return nil
	}
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

func checkDatabaseURL(s string) error {
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		// The parser's error quotes the URL, password included: name the
		// usual cause instead.
		if _, err := url.Parse(s); err != nil {
			return fmt.Errorf("%q is not a URL (a %% in the password must be written %%25)", store.Redact(s))
		}
		return nil
	}
	if s != "" && !strings.Contains(s, "=") {
		return fmt.Errorf("%q: expected a postgres:// URL or key=value settings", store.Redact(s))
	}
	return nil
}

func checkListen(s string) error {
	if s == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q: expected host:port or :port (%v)", s, err)
	}
	// The scheduler would fail to listen on it: a port out of range is a mistake of
	// the file, found here rather than at the start.
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: the port must be a number from 0 to 65535 (%v)", s, err)
	}
	return nil
}

func checkZone(s string) error {
	if _, err := time.LoadLocation(s); err != nil {
		return fmt.Errorf("%q: not a time zone (e.g. UTC, Europe/Paris)", s)
	}
	return nil
}
