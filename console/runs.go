package console

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/provisioner/provisioner/ops"
)

// RunsPage is how many processing runs and ledger runs the Runs page lists.
const RunsPage = 50

type runsData struct {
	Processes []ops.ProcessingRun
	Ledger    []ops.LedgerRun
	Job       string
	Jobs      []string
	Paused    map[string]ops.Pause
	Targets   []string
	NextRuns  string
	NextJobs  string
}

// runs is the Runs page: the processing runs (claimed, completed, rejected,
// batches, duration), the run ledger of the jobs, and pause / resume of each job
// and of the queue (the forms post to /console/pause and /console/resume).
func (c *Console) runs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := runsData{Job: strings.TrimSpace(q.Get("job")), Jobs: c.opts.Jobs, Targets: c.targets(), Paused: map[string]ops.Pause{}}
	if d.Job != "" && !slices.Contains(c.opts.Jobs, d.Job) {
		c.render(w, r, http.StatusBadRequest, "error", "Bad request", fmt.Sprintf("job %q: give one of %s", d.Job, strings.Join(c.opts.Jobs, ", ")))
		return
	}
	runsBefore, ok := c.keyset(w, r, "runs_before")
	if !ok {
		return
	}
	jobsBefore, ok := c.keyset(w, r, "jobs_before")
	if !ok {
		return
	}
	var err error
	if d.Processes, err = ops.ProcessingRuns(r.Context(), c.db, runsBefore, RunsPage+1); err != nil {
		c.fail(w, r, err)
		return
	}
	if len(d.Processes) > RunsPage {
		d.Processes = d.Processes[:RunsPage]
		d.NextRuns = fmt.Sprintf("%sruns?job=%s&runs_before=%d", Prefix, d.Job, d.Processes[RunsPage-1].ID)
	}
	if d.Ledger, err = ops.JobLedger(r.Context(), c.db, d.Job, jobsBefore, RunsPage+1); err != nil {
		c.fail(w, r, err)
		return
	}
	if len(d.Ledger) > RunsPage {
		d.Ledger = d.Ledger[:RunsPage]
		d.NextJobs = fmt.Sprintf("%sruns?job=%s&jobs_before=%d", Prefix, d.Job, d.Ledger[RunsPage-1].ID)
	}
	ps, err := ops.Paused(r.Context(), c.db)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, p := range ps {
		d.Paused[p.Target] = p
	}
	c.render(w, r, http.StatusOK, "runs", "Runs", d)
}
