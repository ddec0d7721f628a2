package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/provisioner/provisioner/dispatcher"
	dur "github.com/provisioner/provisioner/internal/duration"
	"github.com/provisioner/provisioner/reconcile"
	"github.com/provisioner/provisioner/store"
)

// setting is one key of the file: how to read its value into a Config.
type setting struct {
	key string
	set func(c *Config, v value) error
}

// The file's keys, in the order of samples/provisioner.toml.
var settings = []setting{
	{"log.level", str(func(c *Config) *string { return &c.Log.Level }, checkLevel)},
	{"log.format", str(func(c *Config) *string { return &c.Log.Format }, checkFormat)},

	{"database.url", str(func(c *Config) *string { return &c.Database.URL }, checkDatabaseURL)},
	{"database.statement_timeout", str(func(c *Config) *string { return &c.Database.StatementTimeout }, func(v string) error {
		_, err := store.ParseStatementTimeout(v)
		return err
	})},

	{"gateway.url", str(func(c *Config) *string { return &c.Gateway.URL }, checkHTTPURL)},
	{"gateway.destination", str(func(c *Config) *string { return &c.Gateway.Destination }, nil)},
	{"gateway.batch_timeout", duration(func(c *Config) *time.Duration { return &c.Gateway.BatchTimeout }, 0)}, // range: finish

	{"scheduler.timezone", str(func(c *Config) *string { return &c.Scheduler.Timezone }, checkZone)},
	{"scheduler.grace_period", duration(func(c *Config) *time.Duration { return &c.Scheduler.GracePeriod }, 0)},
	{"scheduler.metrics_listen", str(func(c *Config) *string { return &c.Scheduler.MetricsListen }, checkListen)},
	{"scheduler.instance", str(func(c *Config) *string { return &c.Scheduler.Instance }, nil)},

	{"jobs.import.schedule", str(func(c *Config) *string { return &c.Import.Schedule }, nil)},
	{"jobs.import.catch_up", boolean(func(c *Config) *bool { return &c.Import.CatchUp })},
	{"jobs.import.inbox", str(func(c *Config) *string { return &c.Import.Inbox }, nil)},
	{"jobs.import.settle", duration(func(c *Config) *time.Duration { return &c.Import.Settle }, 0)},
	{"jobs.import.chunk", integer(func(c *Config) *int { return &c.Import.Chunk }, 1, 100000)},
	{"jobs.import.file_timeout", durationUpTo(func(c *Config) *time.Duration { return &c.Import.FileTimeout }, time.Second, time.Hour,
		"a longer import could be left out of the created-date filters of requests list and the console")},

	{"jobs.process.schedule", str(func(c *Config) *string { return &c.Process.Schedule }, nil)},
	{"jobs.process.catch_up", boolean(func(c *Config) *bool { return &c.Process.CatchUp })},
	// The processing run's ranges are the dispatcher's (finish): here, only the types.
	{"jobs.process.batch_size", integer(func(c *Config) *int { return &c.Process.BatchSize }, math.MinInt32, math.MaxInt32)},
	{"jobs.process.concurrency", integer(func(c *Config) *int { return &c.Process.Concurrency }, math.MinInt32, math.MaxInt32)},
	{"jobs.process.rate", number(func(c *Config) *float64 { return &c.Process.Rate })},
	{"jobs.process.max_requests", integer(func(c *Config) *int { return &c.Process.MaxRequests }, math.MinInt32, math.MaxInt32)},
	{"jobs.process.max_duration", duration(func(c *Config) *time.Duration { return &c.Process.MaxDuration }, 0)},
	{"jobs.process.lease", duration(func(c *Config) *time.Duration { return &c.Process.Lease }, 0)},
	{"jobs.process.max_attempts", integer(func(c *Config) *int { return &c.Process.MaxAttempts }, math.MinInt32, math.MaxInt32)},
	{"jobs.process.max_attempts_age", duration(func(c *Config) *time.Duration { return &c.Process.MaxAttemptsAge }, 0)},

	{"jobs.housekeeping.schedule", str(func(c *Config) *string { return &c.Housekeeping.Schedule }, nil)},
	{"jobs.housekeeping.catch_up", boolean(func(c *Config) *bool { return &c.Housekeeping.CatchUp })},
	{"jobs.housekeeping.files_after", duration(func(c *Config) *time.Duration { return &c.Housekeeping.FilesAfter }, 0)},
	{"jobs.housekeeping.move_to", str(func(c *Config) *string { return &c.Housekeeping.MoveTo }, nil)},
	{"jobs.housekeeping.requests_after", duration(func(c *Config) *time.Duration { return &c.Housekeeping.RequestsAfter }, 0)},
	{"jobs.housekeeping.runs_after", duration(func(c *Config) *time.Duration { return &c.Housekeeping.RunsAfter }, 0)},
	{"jobs.housekeeping.stale_process_after", duration(func(c *Config) *time.Duration { return &c.Housekeeping.StaleProcessAfter }, time.Minute)},

	{"jobs.reconcile.schedule", str(func(c *Config) *string { return &c.Reconcile.Schedule }, nil)},
	{"jobs.reconcile.catch_up", boolean(func(c *Config) *bool { return &c.Reconcile.CatchUp })},
	{"jobs.reconcile.reports", str(func(c *Config) *string { return &c.Reconcile.Reports }, func(v string) error {
		if v == "" {
			return errors.New("must name a folder")
		}
		return nil
	})},
	{"jobs.reconcile.max_corrections", func(c *Config, v value) error {
		if v.n.Kind != unstable.String {
			return v.mismatch(`a percentage as a string ("5%")`)
		}
		share, err := reconcile.ParseMaxCorrections(string(v.n.Data))
		if err != nil {
			return err
		}
		c.Reconcile.MaxCorrections = share
		return nil
	}},
	{"jobs.reconcile.priority", str(func(c *Config) *string { return &c.Reconcile.Priority }, func(v string) error {
		_, err := reconcile.ParsePriority(v)
		return err
	})},
	{"jobs.reconcile.process", boolean(func(c *Config) *bool { return &c.Reconcile.Process })},
	{"jobs.reconcile.force", boolean(func(c *Config) *bool { return &c.Reconcile.Force })},
}

// Keys returns every key the file may hold, in the sample's order.
func Keys() []string {
	keys := make([]string, len(settings))
	for i, s := range settings {
		keys[i] = s.key
	}
	return keys
}

// parser is the state of reading one file.
type parser struct {
	p        unstable.Parser
	c        *Config
	lines    map[string]int // key (or table) -> the line it was set on
	problems []Problem
	// bad: the keys with a problem of their own. Their value is left at the default,
	// so a check between settings that involves one is skipped: it would blame the
	// default (or another key) for the mistake already named.
	bad map[string]bool
	// unknownTables: tables named once as unknown; their keys are not named again.
	unknownTables []string
}

// Parse reads a configuration file's content on top of the defaults and checks it.
// name is only for messages.
func Parse(name string, data []byte) (*Config, error) {
	ps := &parser{c: Default(), lines: map[string]int{}, bad: map[string]bool{}}
	ps.p.Reset(data)
	var table []string
	for ps.p.NextExpression() {
		e := ps.p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, line := ps.key(e.Key())
			table = parts
			full := strings.Join(parts, ".")
			switch {
			case e.Kind == unstable.ArrayTable:
				ps.problem(line, full, "arrays of tables ([[...]]) are not settings of this file")
			case !isTable(full):
				// One mistake (a misspelled [jobs.proccess]), not one more per key under it.
				ps.unknownTables = append(ps.unknownTables, full)
				ps.problem(line, "", fmt.Sprintf("unknown table [%s] (the tables are %s)", full, strings.Join(tables(), ", ")))
			case ps.lines["["+full+"]"] > 0:
				ps.problem(line, "", fmt.Sprintf("table [%s] appears twice (first on line %d)", full, ps.lines["["+full+"]"]))
			default:
				ps.lines["["+full+"]"] = line
			}
		case unstable.KeyValue:
			ps.keyValue(table, e)
		}
	}
	if err := ps.p.Error(); err != nil {
		// A syntax error ends the reading: what follows cannot be trusted.
		line := 0
		var pe *unstable.ParserError
		if errors.As(err, &pe) && len(pe.Highlight) > 0 {
			line = ps.p.Shape(ps.p.Range(pe.Highlight)).Start.Line
		}
		ps.problems = append(ps.problems, Problem{Line: line, Msg: "TOML syntax: " + err.Error()})
		return nil, &Problems{File: name, List: ps.problems}
	}
	ps.finish()
	// In file order; the problems of defaults (no line) last.
	slices.SortStableFunc(ps.problems, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line - a.Line
		}
		return a.Line - b.Line
	})
	if len(ps.problems) > 0 {
		return nil, &Problems{File: name, List: ps.problems}
	}
	return ps.c, nil
}

func (ps *parser) problem(line int, key, msg string) {
	ps.problems = append(ps.problems, Problem{Line: line, Key: key, Msg: msg})
	if key != "" {
		ps.bad[key] = true
	}
}

// anyBad reports whether one of keys has a problem of its own.
func (ps *parser) anyBad(keys ...string) bool {
	return slices.ContainsFunc(keys, func(k string) bool { return ps.bad[k] })
}

// inUnknownTable reports whether key lies under a table already named as unknown.
func (ps *parser) inUnknownTable(key string) bool {
	return slices.ContainsFunc(ps.unknownTables, func(t string) bool { return strings.HasPrefix(key, t+".") })
}

// key returns a key's parts and the line it starts on.
func (ps *parser) key(it unstable.Iterator) ([]string, int) {
	var parts []string
	line := 0
	for it.Next() {
		n := it.Node()
		if line == 0 {
			line = ps.p.Shape(n.Raw).Start.Line
		}
		parts = append(parts, string(n.Data))
	}
	return parts, line
}

// keyValue reads one key = value under table; an inline table's keys are read as
// if written under their own header.
func (ps *parser) keyValue(table []string, e *unstable.Node) {
	parts, line := ps.key(e.Key())
	parts = append(slices.Clone(table), parts...)
	full := strings.Join(parts, ".")
	v := e.Value()
	if v.Kind == unstable.InlineTable {
		it := v.Children()
		for it.Next() {
			ps.keyValue(parts, it.Node())
		}
		return
	}
	if first := ps.lines[full]; first > 0 {
		// Not marked bad: the first value holds, and the checks between settings
		// judge it.
		ps.problems = append(ps.problems, Problem{Line: line, Key: full, Msg: fmt.Sprintf("set twice (first on line %d)", first)})
		return
	}
	ps.lines[full] = line
	i := slices.IndexFunc(settings, func(s setting) bool { return s.key == full })
	if i < 0 && ps.inUnknownTable(full) {
		return
	}
	if i < 0 {
		ps.problem(line, full, unknownKey(full))
		return
	}
	if err := settings[i].set(ps.c, value{v}); err != nil {
		ps.problem(line, full, err.Error())
	}
}

// unknownKey says what the table's keys are, so that a typo is quickly fixed.
func unknownKey(full string) string {
	dot := strings.LastIndexByte(full, '.')
	if dot < 0 || !isTable(full[:dot]) {
		return fmt.Sprintf("unknown key (the tables are %s)", strings.Join(tables(), ", "))
	}
	var keys []string
	for _, s := range settings {
		if strings.HasPrefix(s.key, full[:dot+1]) {
			keys = append(keys, s.key[dot+1:])
		}
	}
	return fmt.Sprintf("unknown key (the keys of [%s] are %s)", full[:dot], strings.Join(keys, ", "))
}

// tables returns the tables that hold settings, in the sample's order.
func tables() []string {
	var ts []string
	for _, s := range settings {
		t := s.key[:strings.LastIndexByte(s.key, '.')]
		if !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	return ts
}

func isTable(name string) bool { return name == "jobs" || slices.Contains(tables(), name) }

// finish parses the cron specs (once the time zone is known) and checks the settings
// that depend on each other.
func (ps *parser) finish() {
	c := ps.c
	loc := time.UTC
	if l, err := time.LoadLocation(c.Scheduler.Timezone); err == nil {
		loc = l
	}
	c.Scheduler.Location = loc
	for _, name := range slices.Sorted(maps.Keys(c.Jobs())) {
		j := c.Jobs()[name]
		if strings.TrimSpace(j.Schedule) == "" {
			continue
		}
		key := "jobs." + name + ".schedule"
		s, err := ParseSchedule(j.Schedule, loc)
		if err != nil {
			ps.problem(ps.lines[key], key, fmt.Sprintf("%q: %v", j.Schedule, err))
			continue
		}
		j.Cron = s
	}
	if c.Import.Schedule != "" && c.Import.Inbox == "" {
		ps.problem(ps.lines["jobs.import.schedule"], "jobs.import.inbox", "not set, and the import job is scheduled: name the inbox directory")
	}
	ps.checkProcess()
	if !ps.anyBad("jobs.process.lease", "jobs.housekeeping.stale_process_after") && c.Housekeeping.StaleProcessAfter < 2*c.Process.Lease {
		ps.problem(ps.line("jobs.housekeeping.stale_process_after", "jobs.process.lease"), "jobs.housekeeping.stale_process_after",
			fmt.Sprintf("%v: must be at least twice jobs.process.lease (%v), or a live run could be taken for dead", c.Housekeeping.StaleProcessAfter, c.Process.Lease))
	}
}

// checkProcess checks the processing run's settings and the gateway's batch timeout
// by the dispatcher's rules (dispatcher.Options.Validate, CheckBatchTimeout,
// CheckLease), each problem at the line of its key.
func (ps *parser) checkProcess() {
	c := ps.c
	leaseOK := true
	var errs []error
	if err := c.Process.Options().Validate(); err != nil {
		errs = err.(interface{ Unwrap() []error }).Unwrap() // errors.Join
	}
	for _, err := range errs {
		var oe *dispatcher.OptionError
		if !errors.As(err, &oe) {
			ps.problem(0, "jobs.process", err.Error())
			continue
		}
		key := processKeys[oe.Option]
		ps.problem(ps.lines[key], key, oe.Value+": "+oe.Rule)
		leaseOK = leaseOK && oe.Option != "Lease"
	}
	if ps.bad["gateway.batch_timeout"] {
		return
	}
	if err := dispatcher.CheckBatchTimeout(c.Gateway.BatchTimeout); err != nil {
		var oe *dispatcher.OptionError
		errors.As(err, &oe)
		ps.problem(ps.lines["gateway.batch_timeout"], "gateway.batch_timeout", oe.Value+": "+oe.Rule)
		return
	}
	if !leaseOK || ps.anyBad("jobs.process.lease", "gateway.batch_timeout") {
		return
	}
	if err := dispatcher.CheckLease(c.Process.Lease, c.Gateway.BatchTimeout); err != nil {
		var oe *dispatcher.OptionError
		errors.As(err, &oe)
		ps.problem(ps.line("jobs.process.lease", "gateway.batch_timeout"), "jobs.process.lease", oe.Value+": "+oe.Rule)
	}
}

// line returns the line of the first of keys that the file sets.
func (ps *parser) line(keys ...string) int {
	for _, k := range keys {
		if l := ps.lines[k]; l > 0 {
			return l
		}
	}
	return 0
}

// value is one value of the file.
type value struct{ n *unstable.Node }

func (v value) describe() string {
	switch v.n.Kind {
	case unstable.String:
		return fmt.Sprintf("the string %q", v.n.Data)
	case unstable.Integer:
		return "the integer " + string(v.n.Data)
	case unstable.Float:
		return "the number " + string(v.n.Data)
	case unstable.Bool:
		return string(v.n.Data)
	case unstable.Array:
		return "an array"
	default:
		return "a " + strings.ToLower(v.n.Kind.String())
	}
}

func (v value) mismatch(want string) error {
	return fmt.Errorf("expected %s, got %s", want, v.describe())
}

func str(field func(*Config) *string, check func(string) error) func(*Config, value) error {
	return func(c *Config, v value) error {
		if v.n.Kind != unstable.String {
			return v.mismatch("a string")
		}
		s := string(v.n.Data)
		if check != nil {
			if err := check(s); err != nil {
				return err
			}
		}
		*field(c) = s
		return nil
	}
}

func boolean(field func(*Config) *bool) func(*Config, value) error {
	return func(c *Config, v value) error {
		if v.n.Kind != unstable.Bool {
			return v.mismatch("true or false")
		}
		*field(c) = string(v.n.Data) == "true"
		return nil
	}
}

func integer(field func(*Config) *int, lo, hi int) func(*Config, value) error {
	return func(c *Config, v value) error {
		if v.n.Kind != unstable.Integer {
			return v.mismatch("an integer")
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(string(v.n.Data), "_", ""), 0, 64)
		if err != nil || n < int64(lo) || n > int64(hi) {
			return fmt.Errorf("%s: must be %d to %d", v.n.Data, lo, hi)
		}
		*field(c) = int(n)
		return nil
	}
}

func number(field func(*Config) *float64) func(*Config, value) error {
	return func(c *Config, v value) error {
		if v.n.Kind != unstable.Float && v.n.Kind != unstable.Integer {
			return v.mismatch("a number")
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(string(v.n.Data), "_", ""), 64)
		if err != nil {
			return fmt.Errorf("%s: not a number", v.n.Data)
		}
		*field(c) = f
		return nil
	}
}

// duration reads a string such as "90s", "5m", "1h30m" or "30d" (days); "0" is off
// where the setting allows it (least 0).
// durationUpTo is duration with a most as well, and why.
func durationUpTo(field func(*Config) *time.Duration, least, most time.Duration, why string) func(*Config, value) error {
	parse := duration(field, least)
	return func(c *Config, v value) error {
		if err := parse(c, v); err != nil {
			return err
		}
		if d := *field(c); d > most {
			return fmt.Errorf("%q: must be at most %v: %s", v.n.Data, most, why)
		}
		return nil
	}
}

func duration(field func(*Config) *time.Duration, least time.Duration) func(*Config, value) error {
	return func(c *Config, v value) error {
		if v.n.Kind != unstable.String {
			return v.mismatch(`a duration string such as "30s", "5m", "12h" or "30d"`)
		}
		d, err := dur.Parse(string(v.n.Data))
		if err != nil {
			return err
		}
		if d < least {
			return fmt.Errorf("%q: must be at least %v", v.n.Data, least)
		}
		*field(c) = d
		return nil
	}
}
