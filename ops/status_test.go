package ops_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/provisioner/provisioner/config"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/jobs"
	"github.com/provisioner/provisioner/ops"
)

// TestSnapshotJobs: every job is listed, those that never ran too, and with a
// configuration each has its schedule and whether a scheduled run is missing.
func TestSnapshotJobs(t *testing.T) {
	type want struct {
		neverRun bool
		state    string // "" when never run
		schedule string // "-": null (no configuration)
		overdue  string // "-": null, "no", or the tick it is overdue since (15:04:05)
	}
	cases := []struct {
		name  string
		runs  string            // VALUES of job_runs (job, tick, trigger, state, started_at, finished_at)
		specs map[string]string // nil: no configuration
		want  map[string]want   // by job; every job of package jobs
	}{
		{
			name: "empty ledger, no configuration",
			want: map[string]want{
				"housekeeping": {true, "", "-", "-"}, "import": {true, "", "-", "-"}, "process": {true, "", "-", "-"},
			},
		},
		{
			name:  "empty ledger, one job scheduled: never run says nothing of lateness",
			specs: map[string]string{"process": "*/5 * * * *"},
			want: map[string]want{
				"housekeeping": {true, "", "", "-"}, "import": {true, "", "", "-"}, "process": {true, "", "*/5 * * * *", "-"},
			},
		},
		{
			name: "one job ran, no configuration",
			runs: `('import', '2026-11-30T11:00:00Z', 'SCHEDULE', 'SUCCEEDED', '2026-11-30T11:00:00Z', '2026-11-30T11:00:02Z')`,
			want: map[string]want{
				"housekeeping": {true, "", "-", "-"}, "import": {false, "SUCCEEDED", "-", "-"}, "process": {true, "", "-", "-"},
			},
		},
		{
			// At 12:00, process's 11:55 tick is past the grace and has no run: overdue;
			// import's 11:30 tick was SKIPPED, which is no run; housekeeping ran (and
			// failed) at 12:00, the latest tick.
			name: "overdue and on time",
			runs: `('process', '2026-11-30T11:50:00Z', 'SCHEDULE', 'SUCCEEDED', '2026-11-30T11:50:00Z', '2026-11-30T11:50:30Z'),
			       ('import', '2026-11-30T11:00:00Z', 'SCHEDULE', 'SUCCEEDED', '2026-11-30T11:00:00Z', '2026-11-30T11:00:02Z'),
			       ('import', '2026-11-30T11:30:00Z', 'SCHEDULE', 'SKIPPED', '2026-11-30T11:30:00Z', '2026-11-30T11:30:00Z'),
			       ('housekeeping', '2026-11-30T12:00:00Z', 'SCHEDULE', 'FAILED', '2026-11-30T12:00:00Z', '2026-11-30T12:00:00Z')`,
			specs: map[string]string{"process": "*/5 * * * *", "import": "*/30 * * * *", "housekeeping": "0 * * * *"},
			want: map[string]want{
				"housekeeping": {false, "FAILED", "0 * * * *", "no"},
				"import":       {false, "SUCCEEDED", "*/30 * * * *", "11:30:00"},
				"process":      {false, "SUCCEEDED", "*/5 * * * *", "11:55:00"},
			},
		},
		{
			// A tick within the grace is not yet overdue; a run that outlasted ticks is
			// judged from its end; a RUNNING one is not overdue; a job not scheduled
			// (manual runs only) has "" and no lateness.
			name: "grace, long runs, running, unscheduled",
			runs: `('process', '2026-11-30T11:55:00Z', 'SCHEDULE', 'SUCCEEDED', '2026-11-30T11:55:00Z', '2026-11-30T11:55:10Z'),
			       ('import', '2026-11-30T10:00:00Z', 'SCHEDULE', 'SUCCEEDED', '2026-11-30T10:00:00Z', '2026-11-30T11:40:00Z'),
			       ('housekeeping', '2026-11-30T03:00:00Z', 'MANUAL', 'SUCCEEDED', '2026-11-30T03:00:00Z', '2026-11-30T03:00:01Z')`,
			specs: map[string]string{"process": "59 11 * * *", "import": "*/30 * * * *"},
			want: map[string]want{
				"housekeeping": {false, "SUCCEEDED", "", "-"},
				"import":       {false, "SUCCEEDED", "*/30 * * * *", "no"},
				"process":      {false, "SUCCEEDED", "59 11 * * *", "no"},
			},
		},
		{
			name: "running for long",
			runs: `('process', '2026-11-30T09:00:00Z', 'SCHEDULE', 'RUNNING', '2026-11-30T09:00:00Z', NULL),
			       ('process', '2026-11-30T09:05:00Z', 'SCHEDULE', 'SKIPPED', '2026-11-30T09:05:00Z', '2026-11-30T09:05:00Z')`,
			specs: map[string]string{"process": "*/5 * * * *"},
			want: map[string]want{
				"housekeeping": {true, "", "", "-"}, "import": {true, "", "", "-"}, "process": {false, "RUNNING", "*/5 * * * *", "no"},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := pgtest.New(t)
			if c.runs != "" {
				// The instance is no part of these cases.
				if _, err := db.Exec(`ALTER TABLE job_runs ALTER instance SET DEFAULT 'host:1'`); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(`INSERT INTO job_runs (job, tick, trigger, state, started_at, finished_at) VALUES ` + c.runs); err != nil {
					t.Fatal(err)
				}
			}
			var scheds map[string]ops.Schedule
			if c.specs != nil {
				scheds = map[string]ops.Schedule{}
				for name, spec := range c.specs {
					sched, err := config.ParseSchedule(spec, time.UTC)
					if err != nil {
						t.Fatal(err)
					}
					scheds[name] = ops.Schedule{Spec: spec, Cron: sched}
				}
			}
			st, err := ops.Snapshot(context.Background(), db, ops.StatusOptions{Now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), Jobs: jobs.Names(), Schedules: scheds})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]want{}
			var order []string
			for _, j := range st.Jobs {
				order = append(order, j.Job)
				w := want{neverRun: j.NeverRun, schedule: "-", overdue: "-"}
				if j.State != nil {
					w.state = *j.State
				}
				if j.NeverRun != (j.State == nil) || j.NeverRun != (j.StartedAt == nil) {
					t.Errorf("%s: never_run %v with state %v, started %v", j.Job, j.NeverRun, j.State, j.StartedAt)
				}
				if j.Schedule != nil {
					w.schedule = *j.Schedule
				}
				switch {
				case j.Overdue == nil:
				case !*j.Overdue:
					w.overdue = "no"
				case j.OverdueSince == nil:
					w.overdue = "overdue without a tick"
				default:
					w.overdue = j.OverdueSince.Format("15:04:05")
				}
				got[j.Job] = w
			}
			if want := []string{"housekeeping", "import", "process", "reconcile"}; !slices.Equal(order, want) {
				t.Errorf("jobs listed %v, want %v", order, want)
			}
			for name, w := range c.want {
				if got[name] != w {
					t.Errorf("%s: got %+v, want %+v", name, got[name], w)
				}
			}
		})
	}
}
