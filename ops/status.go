package ops

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/robfig/cron/v3"

	"github.com/provisioner/provisioner/instances"
	"github.com/provisioner/provisioner/provisioning"
	provsql "github.com/provisioner/provisioner/sql"
	"github.com/provisioner/provisioner/store"
)

// Status is what `provisioner status` shows. Its JSON (--json) is a stable shape for
// scripts: fields are added, never renamed or removed; times are RFC 3339 UTC, ages
// whole seconds; a section with nothing to show is null (oldest_pending, inbox) or
// [] (errors_last_day). Jobs has every job of StatusOptions.Jobs, run or not.
type Status struct {
	GeneratedAt   time.Time      `json:"generated_at"`
	Requests      RequestTotals  `json:"requests"`
	OldestPending *OldestPending `json:"oldest_pending"`
	Inbox         *Inbox         `json:"inbox"`
	Jobs          []JobRun       `json:"jobs"`
	// LastProcessingRun and LastImport: the latest processing run and imported file
	// however they were started, the one-off commands and process_immediately
	// included, which the run ledger (Jobs) does not record. Null: none yet.
	LastProcessingRun *ProcessingRun `json:"last_processing_run"`
	LastImport        *ImportedFile  `json:"last_import"`
	// ErrorsLastDay: the error codes of the requests rejected in the 24 hours before
	// GeneratedAt (from the start of that minute: they are counted by the minute),
	// most frequent first (at most 10).
	ErrorsLastDay []ErrorCount `json:"errors_last_day"`
	// Paused: the jobs and the queue paused (`provisioner pause`), since when, by
	// whom and why; [] when nothing is.
	Paused []Pause `json:"paused"`
	// Instances: the schedulers, `provisioner run` and `provisioner process` with a
	// heartbeat row, live or dead (package instances); [] when none.
	Instances []instances.Instance `json:"instances"`
	// Reconciliations: the last reconciliation runs, newest first (at most
	// LastReconciliations), with their drift reports. [] when none.
	Reconciliations []ReconcileRun `json:"reconciliations"`
}

// LastReconciliations is how many reconciliation runs status lists.
const LastReconciliations = 5

// ReconcileRun is one reconciliation run as reconcile_runs records it.
type ReconcileRun struct {
	ID                int64      `db:"id" json:"id"`
	Scope             string     `db:"scope" json:"scope"`
	DryRun            bool       `db:"dry_run" json:"dry_run"`
	State             string     `db:"state" json:"state"`
	Checked           int        `db:"checked" json:"checked"`
	InSync            int        `db:"in_sync" json:"in_sync"`
	Drifted           int        `db:"drifted" json:"drifted"`
	MissingProducts   int        `db:"missing_products" json:"missing_products"`
	ExtraProducts     int        `db:"extra_products" json:"extra_products"`
	WrongPairing      int        `db:"wrong_pairing" json:"wrong_pairing"`
	MissingPairing    int        `db:"missing_pairing" json:"missing_pairing"`
	UnexpectedPairing int        `db:"extra_pairing" json:"unexpected_pairing"`
	Busy              int        `db:"busy" json:"busy"`
	Unknown           int        `db:"unknown" json:"unknown"`
	Disabled          int        `db:"disabled" json:"disabled"`
	Uncorrectable     int        `db:"uncorrectable" json:"uncorrectable"`
	Corrections       int        `db:"corrections" json:"corrections"`
	Report            string     `db:"report" json:"report"`
	Error             string     `db:"error" json:"error"`
	StartedAt         time.Time  `db:"started_at" json:"started_at"`
	FinishedAt        *time.Time `db:"finished_at" json:"finished_at"`
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
	// PendingMoreThan, when not 0, says that more requests than it are PENDING
	// (StatusOptions.PendingCap): ByState counts PENDING as one more, and neither
	// Pending, nor Groups (the settled ones only), nor Status.OldestPending say more
	// of them. Never set by the status command, which counts them all.
	PendingMoreThan int64 `json:"pending_more_than,omitempty"`
}

// PendingTotals splits the PENDING requests by what they wait for (WaitKind): each
// is counted once, by its first reason in the order of the fields below.
type PendingTotals struct {
	// Due: claimable now, what the next processing run's claim takes: nothing of its
	// own holds it back and it is the head of its smartcard's queue.
	Due int64 `json:"due"`
	// InFlight: claimed by a run whose lease holds.
	InFlight int64 `json:"in_flight"`
	// RetryWait: backing off after a send that did not settle them.
	RetryWait int64 `json:"retry_wait"`
	// Held: held by an operator (`requests hold`) until released.
	Held int64 `json:"held"`
	// Scheduled: their scheduled date is still to come.
	Scheduled int64 `json:"scheduled"`
	// Blocked: nothing of their own holds them back, but an earlier request of their
	// smartcard goes first; BlockedBy splits them by what that one waits for.
	Blocked   int64     `json:"blocked"`
	BlockedBy BlockedBy `json:"blocked_by"`
}

// BlockedBy splits the blocked requests by what the head of their card's queue waits
// for: due (it goes at the next claim), in flight, held, retry wait, scheduled later.
type BlockedBy struct {
	Due       int64 `db:"blocked_by_due" json:"due"`
	InFlight  int64 `db:"blocked_by_in_flight" json:"in_flight"`
	Held      int64 `db:"blocked_by_held" json:"held"`
	RetryWait int64 `db:"blocked_by_retry_wait" json:"retry_wait"`
	Scheduled int64 `db:"blocked_by_scheduled" json:"scheduled"`
}

// Total is how many requests are blocked.
func (b BlockedBy) Total() int64 { return b.Due + b.InFlight + b.Held + b.RetryWait + b.Scheduled }

func (b *BlockedBy) add(o BlockedBy) {
	b.Due += o.Due
	b.InFlight += o.InFlight
	b.Held += o.Held
	b.RetryWait += o.RetryWait
	b.Scheduled += o.Scheduled
}

// Group is the count of one state, type and priority.
type Group struct {
	State    string `db:"state" json:"state"`
	Type     string `db:"type" json:"type"`
	Priority string `db:"priority" json:"priority"`
	Count    int64  `db:"count" json:"count"`
	// Of the PENDING ones: see PendingTotals.
	Due       int64 `db:"due" json:"-"`
	InFlight  int64 `db:"in_flight" json:"-"`
	RetryWait int64 `db:"retry_wait" json:"-"`
	Held      int64 `db:"held" json:"-"`
	Scheduled int64 `db:"scheduled" json:"-"`
	// Embedded, so that sqlx reads its columns from the group's row.
	BlockedBy `json:"-"`
	// OldestDue: of its due PENDING requests, the earliest time one became due;
	// OldestDueNumber and OldestDueSequence: that request's (the lowest sequence
	// number of those due since then).
	OldestDue         *time.Time `db:"oldest_due" json:"-"`
	OldestDueNumber   *int64     `db:"oldest_due_number" json:"-"`
	OldestDueSequence *int64     `db:"oldest_due_sequence" json:"-"`
}

// OldestPending is the due PENDING request that has waited longest: due as in
// PendingTotals.Due, claimable now (a blocked one waits for its card's head, which is
// the one to look at).
type OldestPending struct {
	Number     int64     `db:"number" json:"number"`
	DueSince   time.Time `db:"due_since" json:"due_since"`
	AgeSeconds int64     `db:"-" json:"age_seconds"`
	Attempts   int       `db:"attempts" json:"attempts"`
	// ErrorCode: why its last send did not settle it ("" if never sent).
	ErrorCode string `db:"error_code" json:"error_code"`
}

// Inbox is the inbox backlog (InboxFiles, as StatusOptions.CountInbox counts them).
type Inbox struct {
	Dir     string `json:"dir"`
	Waiting int    `json:"waiting"`
	// OldestWaitingAgeSeconds: since the oldest waiting file was last changed; null
	// when nothing waits.
	OldestWaitingAgeSeconds *int64 `json:"oldest_waiting_age_seconds"`
	Processing              int    `json:"processing"`
	Failed                  int    `json:"failed"`
}

// InboxFiles is what an inbox holds: the files waiting to be imported (and when the
// oldest was last changed: zero when none waits), those in processing/ and those
// refused whole in failed/. Its fields are importer.Backlog's, so that one converts
// to the other.
type InboxFiles struct {
	Waiting       int
	OldestWaiting time.Time
	Processing    int
	Failed        int
}

// JobRun is a job and its last run, from the run ledger (job_runs). Every job of
// StatusOptions.Jobs is listed, in that order: one that never ran has NeverRun set and
// its run's fields null (Error "").
type JobRun struct {
	Job             string          `db:"job" json:"job"`
	NeverRun        bool            `db:"-" json:"never_run"`
	State           *string         `db:"state" json:"state"`
	Trigger         *string         `db:"trigger" json:"trigger"`
	Instance        *string         `db:"instance" json:"instance"`
	Tick            *time.Time      `db:"tick" json:"tick"`
	StartedAt       *time.Time      `db:"started_at" json:"started_at"`
	FinishedAt      *time.Time      `db:"finished_at" json:"finished_at"`
	DurationSeconds *float64        `db:"-" json:"duration_seconds"`
	Counts          json.RawMessage `db:"counts" json:"counts"`
	Error           string          `db:"error" json:"error"`

	// With a configuration (StatusOptions.Schedules), else null:
	// Schedule is the job's cron spec as written, "" when it is not scheduled.
	Schedule *string `db:"-" json:"schedule"`
	// Overdue: the schedule had a tick more than OverdueGrace after the last run
	// (after its tick, or its end if later), and no run came of it (a SKIPPED tick is
	// no run). Null when the job is not scheduled or never ran; false while the last
	// run is RUNNING (the ticks meanwhile are skipped because of it).
	Overdue *bool `db:"-" json:"overdue"`
	// OverdueSince: that tick, when Overdue.
	OverdueSince *time.Time `db:"-" json:"overdue_since"`
	// InstanceDead, for a RUNNING run: its instance has no live heartbeat (dead, or
	// gone without a word), so the run is not running any more whatever its state
	// says; null for a run that is not RUNNING.
	InstanceDead *bool `db:"-" json:"instance_dead"`
}

// ProcessingRun is a processing run's record (processes).
type ProcessingRun struct {
	ID         int64      `db:"id" json:"id"`
	Host       string     `db:"host" json:"host"`
	PID        int        `db:"pid" json:"pid"`
	State      string     `db:"state" json:"state"` // RUNNING, SUCCEEDED, FAILED, INTERRUPTED
	Claimed    int        `db:"claimed" json:"claimed"`
	Completed  int        `db:"completed" json:"completed"`
	Rejected   int        `db:"rejected" json:"rejected"`
	Retried    int        `db:"retried" json:"retried"`
	Batches    int        `db:"batches" json:"batches"`
	Error      string     `db:"error" json:"error"`
	StartedAt  time.Time  `db:"started_at" json:"started_at"`
	FinishedAt *time.Time `db:"finished_at" json:"finished_at"`
	// InstanceDead, when RUNNING: no live instance has its host and pid (see
	// JobRun.InstanceDead); null otherwise.
	InstanceDead *bool `db:"-" json:"instance_dead"`
}

// ImportedFile is an import's record of one file (import_files).
type ImportedFile struct {
	ID           int64     `db:"id" json:"id"`
	Name         string    `db:"name" json:"name"`
	State        string    `db:"state" json:"state"` // IMPORTED, DUPLICATE, FAILED
	RowsRead     int       `db:"rows_read" json:"rows_read"`
	RowsCreated  int       `db:"rows_created" json:"rows_created"`
	RowsRejected int       `db:"rows_rejected" json:"rows_rejected"`
	Error        string    `db:"error" json:"error"`
	StartedAt    time.Time `db:"started_at" json:"started_at"`
	FinishedAt   time.Time `db:"finished_at" json:"finished_at"`
}

// lastActivity fills st's LastProcessingRun and LastImport.
func lastActivity(ctx context.Context, db *store.DB, st *Status) error {
	var runs []ProcessingRun
	if err := db.SelectContext(ctx, &runs, provsql.LastProcessingRun, provisioning.ProcessName); err != nil {
		return fmt.Errorf("last processing run: %w", err)
	}
	if len(runs) == 1 {
		r := runs[0]
		r.StartedAt = r.StartedAt.UTC()
		utc(&r.FinishedAt)
		st.LastProcessingRun = &r
	}
	var files []ImportedFile
	if err := db.SelectContext(ctx, &files, provsql.LastImport); err != nil {
		return fmt.Errorf("last import: %w", err)
	}
	if len(files) == 1 {
		f := files[0]
		f.StartedAt, f.FinishedAt = f.StartedAt.UTC(), f.FinishedAt.UTC()
		st.LastImport = &f
	}
	return nil
}

// OverdueGrace is how late a scheduled run may be before status calls its job
// overdue: a tick is claimed in the ledger as it fires, so this covers only the
// scheduler's timer (it starts ticks up to 10 s late) and clocks that differ.
const OverdueGrace = time.Minute

// jobRuns lists every job with its last run, schedule and lateness at now.
func jobRuns(ctx context.Context, db *store.DB, now time.Time, jobNames []string, scheds map[string]Schedule) ([]JobRun, error) {
	var ran []JobRun
	if err := db.SelectContext(ctx, &ran, provsql.LastJobRuns); err != nil {
		return nil, fmt.Errorf("last job runs: %w", err)
	}
	last := map[string]JobRun{}
	for _, j := range ran {
		last[j.Job] = j
	}
	names := slices.Clone(jobNames)
	// A job in the ledger that this build no longer has still shows, after the others.
	for _, j := range ran {
		if !slices.Contains(names, j.Job) {
			names = append(names, j.Job)
		}
	}
	out := make([]JobRun, 0, len(names))
	for _, name := range names {
		j, ok := last[name]
		if !ok {
			j = JobRun{Job: name, NeverRun: true}
		} else {
			utc(&j.Tick)
			utc(&j.StartedAt)
			utc(&j.FinishedAt)
			if j.FinishedAt != nil {
				d := j.FinishedAt.Sub(*j.StartedAt).Seconds()
				j.DurationSeconds = &d
			}
		}
		if scheds != nil {
			spec := ""
			if s := scheds[name]; s.Cron != nil {
				spec = s.Spec
				j.Overdue, j.OverdueSince = overdue(j, s.Cron, now)
			}
			j.Schedule = &spec
		}
		out = append(out, j)
	}
	return out, nil
}

// overdue says whether sched had a tick, OverdueGrace before now, after j's run.
func overdue(j JobRun, sched cron.Schedule, now time.Time) (*bool, *time.Time) {
	if j.NeverRun {
		return nil, nil // since when it has been scheduled, the ledger cannot tell
	}
	late := false
	if j.State != nil && *j.State == string(provisioning.RunRunning) {
		return &late, nil
	}
	from := *j.Tick
	if j.FinishedAt != nil && j.FinishedAt.After(from) {
		from = *j.FinishedAt
	}
	due := sched.Next(from).UTC()
	if now.Sub(due) <= OverdueGrace {
		return &late, nil
	}
	late = true
	return &late, &due
}

func utc(t **time.Time) {
	if *t != nil {
		u := (*t).UTC()
		*t = &u
	}
}

// ErrorCount is how many requests were rejected with one error code.
type ErrorCount struct {
	Code  string `db:"error_code" json:"error_code"`
	Count int64  `db:"count" json:"count"`
}

// StatusOptions say where and when to look.
type StatusOptions struct {
	Now time.Time
	// Jobs are the names of the jobs, in the order to show them (jobs.Names): ops
	// reads the run ledger and does not depend on the jobs themselves.
	Jobs  []string
	Inbox string // "" leaves the inbox out
	// CountInbox counts the files of the inbox by the importer's rules
	// (importer.InboxBacklog): ops does not know the inbox's layout. Nil leaves the
	// inbox out.
	CountInbox func(dir string) (InboxFiles, error)
	// Schedules, when set (from a configuration), give each job's schedule and
	// whether it is overdue; a job it lacks is not scheduled.
	Schedules map[string]Schedule
	// DeadAfter: an instance with no heartbeat for longer is dead; 0:
	// instances.DefaultDeadAfter.
	DeadAfter time.Duration
	// PendingCap, when not 0, is the most PENDING requests counted by what they wait
	// for, and searched for the oldest due: above it, RequestTotals.PendingMoreThan
	// says so and the rest is left out. The breakdown reads every PENDING request and
	// sorts them by card (half a million: seconds), where the cap's count reads an
	// index of them up to the cap: for the console's overview, which must come back
	// at once at any size of queue.
	PendingCap int64
}

// Schedule is a job's schedule as configured (config.Job).
type Schedule struct {
	Spec string        // as written
	Cron cron.Schedule // Spec parsed; nil: not scheduled
}

// CountRequests returns the requests by state, type and priority at now: one
// statement, shared by Snapshot and the metrics.
func CountRequests(ctx context.Context, q sqlx.QueryerContext, now time.Time) ([]Group, error) {
	return countRequests(ctx, q, now, true)
}

// countRequests is CountRequests, the PENDING requests left out unless pending.
func countRequests(ctx context.Context, q sqlx.QueryerContext, now time.Time, pending bool) ([]Group, error) {
	var gs []Group
	if err := sqlx.SelectContext(ctx, q, &gs, provsql.QueueCounts, now, pending); err != nil {
		return nil, fmt.Errorf("count requests: %w", err)
	}
	return gs, nil
}

// Snapshot gathers the status at opts.Now.
func Snapshot(ctx context.Context, db *store.DB, opts StatusOptions) (Status, error) {
	now := opts.Now.UTC()
	st := Status{GeneratedAt: now, Jobs: []JobRun{}, ErrorsLastDay: []ErrorCount{}, Paused: []Pause{}}
	err := requestTotals(ctx, db, now, opts.PendingCap, &st)
	if err != nil {
		return st, err
	}
	if opts.Inbox != "" && opts.CountInbox != nil {
		b, err := opts.CountInbox(opts.Inbox)
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

	if st.Jobs, err = jobRuns(ctx, db, now, opts.Jobs, opts.Schedules); err != nil {
		return st, err
	}
	if err := lastActivity(ctx, db, &st); err != nil {
		return st, err
	}

	if st.Paused, err = Paused(ctx, db); err != nil {
		return st, err
	}
	deadAfter := opts.DeadAfter
	if deadAfter <= 0 {
		deadAfter = instances.DefaultDeadAfter
	}
	if st.Instances, err = instances.List(ctx, db, now, deadAfter); err != nil {
		return st, err
	}
	markDead(&st)
	st.Reconciliations = []ReconcileRun{}
	if err := db.SelectContext(ctx, &st.Reconciliations, provsql.LastReconcileRuns, LastReconciliations); err != nil {
		return st, fmt.Errorf("last reconciliation runs: %w", err)
	}
	for i := range st.Reconciliations {
		r := &st.Reconciliations[i]
		r.StartedAt = r.StartedAt.UTC()
		utc(&r.FinishedAt)
	}
	return st, nil
}

// requestTotals fills st's Requests, OldestPending and ErrorsLastDay: the reads of
// the requests, in one read-only transaction (one snapshot: the oldest due request
// is looked up as the counts found it) with JIT compilation off
// (sql.StatusNoJIT says why).
func requestTotals(ctx context.Context, db *store.DB, now time.Time, pendingCap int64, st *Status) error {
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("count requests: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, provsql.StatusNoJIT); err != nil {
		return fmt.Errorf("count requests: %w", err)
	}
	capped := false
	if pendingCap > 0 {
		var n int64
		if err := tx.GetContext(ctx, &n, provsql.PendingCount, pendingCap+1); err != nil {
			return fmt.Errorf("count pending requests: %w", err)
		}
		capped = n > pendingCap
	}
	// Above the cap, the PENDING ones are left out of the groups, and so is the
	// oldest due: the breakdown sorts every PENDING request by card.
	groups, err := countRequests(ctx, tx, now, !capped)
	if err != nil {
		return err
	}
	st.Requests = RequestTotals{Groups: groups, ByState: map[string]int64{}}
	if capped {
		st.Requests.PendingMoreThan = pendingCap
		st.Requests.ByState[string(provisioning.Pending)] = pendingCap + 1
		st.Requests.Total = pendingCap + 1
	}
	for _, s := range []provisioning.State{provisioning.Pending, provisioning.Completed, provisioning.Rejected} {
		st.Requests.ByState[string(s)] += 0
	}
	if st.Requests.Groups == nil {
		st.Requests.Groups = []Group{}
	}
	p := &st.Requests.Pending
	var oldest *Group // the group whose oldest due request became due first
	for i, g := range groups {
		st.Requests.Total += g.Count
		st.Requests.ByState[g.State] += g.Count
		p.Due += g.Due
		p.InFlight += g.InFlight
		p.BlockedBy.add(g.BlockedBy)
		p.RetryWait += g.RetryWait
		p.Held += g.Held
		p.Scheduled += g.Scheduled
		if g.OldestDueNumber != nil && (oldest == nil || g.OldestDue.Before(*oldest.OldestDue) ||
			g.OldestDue.Equal(*oldest.OldestDue) && *g.OldestDueSequence < *oldest.OldestDueSequence) {
			oldest = &groups[i]
		}
	}
	p.Blocked = p.BlockedBy.Total()

	if oldest != nil {
		var o []OldestPending
		if err := sqlx.SelectContext(ctx, tx, &o, provsql.OldestPending, *oldest.OldestDueNumber); err != nil {
			return fmt.Errorf("oldest pending request: %w", err)
		}
		if len(o) == 1 {
			o[0].DueSince = oldest.OldestDue.UTC()
			o[0].AgeSeconds = int64(now.Sub(o[0].DueSince) / time.Second)
			st.OldestPending = &o[0]
		}
	}
	if err := sqlx.SelectContext(ctx, tx, &st.ErrorsLastDay, provsql.TopErrors, now.Add(-24*time.Hour), 10); err != nil {
		return fmt.Errorf("top error codes: %w", err)
	}
	return tx.Commit()
}

// markDead says of each RUNNING run whether its instance is dead: no live heartbeat
// row of that name (job runs) or host and pid (processing runs).
func markDead(st *Status) {
	names, procs := map[string]bool{}, map[string]bool{}
	for _, in := range st.Instances {
		if !in.Dead {
			names[in.Name] = true
			procs[fmt.Sprintf("%s:%d", in.Host, in.PID)] = true
		}
	}
	running := string(provisioning.RunRunning)
	for i := range st.Jobs {
		j := &st.Jobs[i]
		if j.State != nil && *j.State == running && j.Instance != nil {
			dead := !names[*j.Instance]
			j.InstanceDead = &dead
		}
	}
	if p := st.LastProcessingRun; p != nil && p.State == running {
		dead := !procs[fmt.Sprintf("%s:%d", p.Host, p.PID)]
		p.InstanceDead = &dead
	}
}

// LastSuccess returns, for each of jobs, when its last run that did its work
// (SUCCEEDED, or REJECTED: some input refused) ended, by any instance; a job with
// none is left out. For the metrics' last-success timestamps.
func LastSuccess(ctx context.Context, q sqlx.QueryerContext, jobs []string) (map[string]time.Time, error) {
	var rows []struct {
		Job        string     `db:"job"`
		FinishedAt *time.Time `db:"finished_at"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, provsql.JobLastSuccess, pq.StringArray(jobs)); err != nil {
		return nil, fmt.Errorf("last successful runs: %w", err)
	}
	out := map[string]time.Time{}
	for _, r := range rows {
		if r.FinishedAt != nil {
			out[r.Job] = r.FinishedAt.UTC()
		}
	}
	return out, nil
}
