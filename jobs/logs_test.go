package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/internal/testutil"
	"github.com/provisioner/provisioner/jobs"
)

// TestRunLogLines: at the info level, a tick of the import job on an empty inbox
// logs nothing (it logged "job started" and "job finished" every minute), a run that
// works logs one line, and an interrupted run is a warning without an "error":null
// (issue 11, part 5).
func TestRunLogLines(t *testing.T) {
	db, _ := pgtest.New(t)
	e := env(t, db)
	e.Config.Import.Inbox, e.Config.Import.Settle = t.TempDir(), 0
	logs := &testutil.Buffer{}
	log := logrus.New()
	log.SetOutput(logs)
	log.SetFormatter(&logrus.JSONFormatter{})
	e.Log = log
	l := &jobs.Ledger{DB: db, Log: log, Instance: "test:1"}
	lines := func() []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			out = append(out, m)
		}
		return out
	}

	if _, err := l.Run(context.Background(), "import", time.Time{}, jobs.Manual, jobs.Import, e); err != nil {
		t.Fatal(err)
	}
	if got := lines(); len(got) != 0 {
		t.Errorf("an empty inbox's tick logged %v", got)
	}

	if _, err := l.Run(context.Background(), "housekeeping", time.Time{}, jobs.Manual, jobs.Housekeeping, e); err != nil {
		t.Fatal(err)
	}
	if got := lines(); len(got) != 1 || got[0]["msg"] != "job finished" {
		t.Errorf("a run that worked logged %v, want one job finished", got)
	}

	logs = &testutil.Buffer{}
	log.SetOutput(logs)
	ctx, cancel := context.WithCancel(context.Background())
	run, _ := l.Run(ctx, "process", time.Time{}, jobs.Manual, func(context.Context, jobs.Env) (jobs.Result, error) { cancel(); return jobs.Result{}, nil }, e)
	got := lines()
	if run.State != jobs.Interrupted || len(got) != 1 || got[0]["level"] != "warning" {
		t.Fatalf("interrupted run %s logged %v", run.State, got)
	}
	if v, ok := got[0]["error"]; ok {
		t.Errorf("interrupted run logged error %v", v)
	}
}
