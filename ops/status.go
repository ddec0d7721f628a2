package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/provisioner/provisioner/importer"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// Status is what `provisioner status` shows. Its JSON (--json) is a stable shape for
// scripts: fields are added, never renamed or removed; times are RFC 3339 UTC, ages
// whole seconds; a section with nothing to show is null (oldest_pending, inbox) or
// [] (jobs, errors_last_day).
type Status struct {
	GeneratedAt   time.Time      `json:"generated_at"`
	Requests      RequestTotals  `json:"requests"`
	OldestPending *OldestPending `json:"oldest_pending"`
	Inbox         *Inbox         `json:"inbox"`
	Jobs          []JobRun       `json:"jobs"`
	// ErrorsLastDay: the error codes of the requests rejected in the 24 hours before
	// GeneratedAt, most frequent first (at most 10).
	ErrorsLastDay []ErrorCount `json:"errors_last_day"`
}

// RequestTotals counts the requests.
type RequestTotals struct {
	Total int64 `json:"total"`
	// ByState has every life cycle state, 0 included.
	ByState map[string]int64 `json:"by_state"`
	// Pending: what the PENDING requests wait for.
	Pending PendingTotals `json:"pending"`
	// Groups: by state, type and priority, the groups that have requests.
	Groups []Group `json:"groups"`
}

// PendingTotals splits the PENDING requests by what they wait for.
type PendingTotals struct {
	// Due: claimable now, or behind an earlier request of their smartcard.
	Due int64 `json:"due"`
	// InFlight: claimed by a run whose lease holds.
	InFlight int64 `json:"in_flight"`
	// RetryWait: backing off after a send that did not settle them.
	RetryWait int64 `json:"retry_wait"`
	// Scheduled: their scheduled date is still to come.
	Scheduled int64 `json:"scheduled"`
}

// Group is the count of one state, type and priority.
type Group struct {
	State    string `db:"state" json:"state"`
	Type     string `db:"type" json:"type"`
	Priority string `db:"priority" json:"priority"`
	Count    int64  `db:"count" json:"count"`
	// Of the PENDING ones: see PendingTotals.
	InFlight  int64 `db:"in_flight" json:"-"`
	RetryWait int64 `db:"retry_wait" json:"-"`
	Scheduled int64 `db:"scheduled" json:"-"`
	// OldestDue: of its due PENDING requests, the earliest time one became due.
	OldestDue *time.Time `db:"oldest_due" json:"-"`
}

// Due is how many of the group's requests are PENDING and due (PendingTotals.Due).
func (g Group) Due() int64 {
	if g.State != string(provisioning.Pending) {
		return 0
	}
	return g.Count - g.InFlight - g.RetryWait - g.Scheduled
}

// OldestPending is the due PENDING request that has waited longest.
type OldestPending struct {
	Number     int64     `db:"number" json:"number"`
	DueSince   time.Time `db:"due_since" json:"due_since"`
	AgeSeconds int64     `db:"-" json:"age_seconds"`
	Attempts   int       `db:"attempts" json:"attempts"`
	// ErrorCode: why its last send did not settle it ("" if never sent).
	ErrorCode string `db:"error_code" json:"error_code"`
}

// Inbox is the inbox backlog (see importer.Backlog).
type Inbox struct {
	Dir     string `json:"dir"`
	Waiting int    `json:"waiting"`
	// OldestWaitingAgeSeconds: since the oldest waiting file was last changed; null
	// when nothing waits.
	OldestWaitingAgeSeconds *int64 `json:"oldest_waiting_age_seconds"`
	Processing              int    `json:"processing"`
	Failed                  int    `json:"failed"`
}

// JobRun is the last run of a job, from the run ledger (job_runs).
type JobRun struct {
	Job             string          `db:"job" json:"job"`
	State           string          `db:"state" json:"state"`
	Trigger         string          `db:"trigger" json:"trigger"`
	Instance        string          `db:"instance" json:"instance"`
	Tick            time.Time       `db:"tick" json:"tick"`
	StartedAt       time.Time       `db:"started_at" json:"started_at"`
	FinishedAt      *time.Time      `db:"finished_at" json:"finished_at"`
	DurationSeconds *float64        `db:"-" json:"duration_seconds"`
	Counts          json.RawMessage `db:"counts" json:"counts"`
	Error           string          `db:"error" json:"error"`
}

// ErrorCount is how many requests were rejected with one error code.
type ErrorCount struct {
	Code  string `db:"error_code" json:"error_code"`
	Count int64  `db:"count" json:"count"`
}

// StatusOptions say where and when to look.
type StatusOptions struct {
	Now   time.Time
	Inbox string // "" leaves the inbox out
}

// CountRequests returns the requests by state, type and priority at now: one
// statement, shared by Snapshot and the metrics.
func CountRequests(ctx context.Context, q sqlx.QueryerContext, now time.Time) ([]Group, error) {
	var gs []Group
	if err := sqlx.SelectContext(ctx, q, &gs, provsql.QueueCounts, now); err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	return gs, nil
}

// Snapshot gathers the status at opts.Now.
func Snapshot(ctx context.Context, db *store.DB, opts StatusOptions) (Status, error) {
	now := opts.Now.UTC()
	st := Status{GeneratedAt: now, Jobs: []JobRun{}, ErrorsLastDay: []ErrorCount{}}
	groups, err := CountRequests(ctx, db, now)
	if err != nil {
		return st, err
	}
	st.Requests = RequestTotals{Groups: groups, ByState: map[string]int64{}}
	for _, s := range []provisioning.State{provisioning.Pending, provisioning.Completed, provisioning.Rejected} {
		st.Requests.ByState[string(s)] = 0
	}
	if st.Requests.Groups == nil {
		st.Requests.Groups = []Group{}
	}
	p := &st.Requests.Pending
	for _, g := range groups {
		st.Requests.Total += g.Count
		st.Requests.ByState[g.State] += g.Count
		p.Due += g.Due()
		p.InFlight += g.InFlight
		p.RetryWait += g.RetryWait
		p.Scheduled += g.Scheduled
	}

	var oldest []OldestPending
	if err := db.SelectContext(ctx, &oldest, provsql.OldestPending, now); err != nil {
		return st, fmt.Errorf("oldest pending request: %w", err)
	}
	if len(oldest) == 1 {
		o := oldest[0]
		o.DueSince = o.DueSince.UTC()
		o.AgeSeconds = int64(now.Sub(o.DueSince) / time.Second)
		st.OldestPending = &o
	}

	if opts.Inbox != "" {
		b, err := importer.InboxBacklog(opts.Inbox)
		if err != nil {
			return st, fmt.Errorf("inbox backlog: %w", err)
		}
		in := &Inbox{Dir: opts.Inbox, Waiting: b.Waiting, Processing: b.Processing, Failed: b.Failed}
		if !b.OldestWaiting.IsZero() {
			age := int64(max(now.Sub(b.OldestWaiting), 0) / time.Second)
			in.OldestWaitingAgeSeconds = &age
		}
		st.Inbox = in
	}

	if err := db.SelectContext(ctx, &st.Jobs, provsql.LastJobRuns); err != nil {
		return st, fmt.Errorf("last job runs: %w", err)
	}
	for i := range st.Jobs {
		j := &st.Jobs[i]
		j.Tick, j.StartedAt = j.Tick.UTC(), j.StartedAt.UTC()
		if j.FinishedAt != nil {
			f := j.FinishedAt.UTC()
			j.FinishedAt = &f
			d := f.Sub(j.StartedAt).Seconds()
			j.DurationSeconds = &d
		}
	}

	if err := db.SelectContext(ctx, &st.ErrorsLastDay, provsql.TopErrors, now.Add(-24*time.Hour), 10); err != nil {
		return st, fmt.Errorf("top error codes: %w", err)
	}
	return st, nil
}
