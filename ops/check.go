package ops

import (
	"fmt"
	"strings"
	"time"
)

// Severity is a check's verdict, with the exit codes of Nagios plugins (and of
// Icinga, Sensu and the like): `provisioner status --check` exits with it.
type Severity int

// The severities, in rising order; Unknown (the check could not be made) is apart.
const (
	OK       Severity = 0
	Warning  Severity = 1
	Critical Severity = 2
	Unknown  Severity = 3
)

func (s Severity) String() string {
	switch s {
	case OK:
		return "OK"
	case Warning:
		return "WARNING"
	case Critical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}

// CheckOptions are the thresholds of Check.
type CheckOptions struct {
	// DueWarning and DueCritical: the oldest due request (claimable now, not sent)
	// waiting longer than this is a warning, or critical; 0 leaves it out.
	DueWarning, DueCritical time.Duration
}

// Problem is one thing that needs a person.
type Problem struct {
	Severity Severity
	Msg      string
}

// CheckResult is Check's verdict: the worst severity of its problems (OK when none).
type CheckResult struct {
	Severity Severity
	Problems []Problem
}

// Check says what in st needs a person: an overdue job (critical: its schedule is
// not kept; needs StatusOptions.Schedules), a file refused whole in the inbox's
// failed/ (warning: someone must read why; needs an inbox), the oldest due request
// waiting past the thresholds. Blocked requests do not count: they wait for their
// card's first request, which status names.
func Check(st Status, opts CheckOptions) CheckResult {
	var r CheckResult
	add := func(s Severity, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{s, fmt.Sprintf(format, args...)})
		r.Severity = max(r.Severity, s)
	}
	for _, j := range st.Jobs {
		if j.Overdue != nil && *j.Overdue {
			add(Critical, "job %s overdue: its tick of %s had no run", j.Job, j.OverdueSince.Format(time.RFC3339))
		}
	}
	if in := st.Inbox; in != nil && in.Failed > 0 {
		files := "files"
		if in.Failed == 1 {
			files = "file"
		}
		add(Warning, "%d %s in %s/failed, refused whole: read the .error.txt beside each", in.Failed, files, in.Dir)
	}
	if o := st.OldestPending; o != nil {
		age := time.Duration(o.AgeSeconds) * time.Second
		switch {
		case opts.DueCritical > 0 && age > opts.DueCritical:
			add(Critical, "request %d due for %v (more than %v) and not sent", o.Number, age, opts.DueCritical)
		case opts.DueWarning > 0 && age > opts.DueWarning:
			add(Warning, "request %d due for %v (more than %v) and not sent", o.Number, age, opts.DueWarning)
		}
	}
	return r
}

// Summary is the check's first line, as monitoring systems show it:
// "PROVISIONER CRITICAL - job process overdue...; 1 file in failed/" with the
// figures after "|" (performance data: label=value[unit];warn;crit).
func (r CheckResult) Summary(st Status, opts CheckOptions) string {
	msgs := make([]string, len(r.Problems))
	for i, p := range r.Problems {
		msgs[i] = p.Msg
	}
	text := "nothing needs a person"
	if len(msgs) > 0 {
		text = strings.Join(msgs, "; ")
	}
	p := st.Requests.Pending
	oldest := int64(0)
	if st.OldestPending != nil {
		oldest = st.OldestPending.AgeSeconds
	}
	perf := fmt.Sprintf("due=%d blocked=%d in_flight=%d retry_wait=%d scheduled=%d oldest_due_age=%ds;%s;%s",
		p.Due, p.Blocked, p.InFlight, p.RetryWait, p.Scheduled, oldest, seconds(opts.DueWarning), seconds(opts.DueCritical))
	if st.Inbox != nil {
		perf += fmt.Sprintf(" inbox_waiting=%d inbox_failed=%d", st.Inbox.Waiting, st.Inbox.Failed)
	}
	return fmt.Sprintf("PROVISIONER %s - %s | %s", r.Severity, text, perf)
}

func seconds(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprint(int64(d / time.Second))
}
