package instances_test

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/provisioner/provisioner/instances"
	"github.com/provisioner/provisioner/internal/pgtest"
	"github.com/provisioner/provisioner/store"
)

// waitFor polls cond until it holds, or fails the test after a minute: the tests
// wait on the state they check, never on a fixed sleep.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func list(t *testing.T, db *store.DB, now time.Time) []instances.Instance {
	t.Helper()
	got, err := instances.List(context.Background(), db, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func quiet() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// TestHeartbeat: a started instance has its row at once, its last_seen_at and
// doing follow the beats, it is live now and dead a dead-after later, and Stop
// deletes its row.
func TestHeartbeat(t *testing.T) {
	db, _ := pgtest.New(t)
	var doing atomic.Value
	doing.Store("idle")
	h, err := instances.Start(context.Background(), db, instances.Options{Kind: instances.Scheduler, Name: "sched-a",
		Version: "v1", Doing: func() string { return doing.Load().(string) }, Log: quiet(), Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	got := list(t, db, time.Now())
	if len(got) != 1 || got[0].Name != "sched-a" || got[0].Kind != "scheduler" || got[0].Version != "v1" ||
		got[0].Doing != "idle" || got[0].Dead || got[0].PID == 0 || got[0].Host == "" {
		t.Fatalf("after Start: %+v", got)
	}
	first := got[0].LastSeenAt
	doing.Store("running process")
	waitFor(t, "a beat with the new doing", func() bool {
		g := list(t, db, time.Now())
		return len(g) == 1 && g[0].Doing == "running process" && g[0].LastSeenAt.After(first)
	})
	if g := list(t, db, time.Now().Add(2*time.Minute)); !g[0].Dead {
		t.Errorf("two minutes without a beat: %+v, want dead", g[0])
	}
	h.Stop()
	if g := list(t, db, time.Now()); len(g) != 0 {
		t.Errorf("after Stop: %+v, want no row", g)
	}
}

// TestHeartbeatComesBack: a row deleted by housekeeping while its instance lives
// (a database out of reach for long) comes back at the next beat; DeleteDead
// deletes only the rows not seen for longer than its age.
func TestHeartbeatComesBack(t *testing.T) {
	db, _ := pgtest.New(t)
	ctx := context.Background()
	h, err := instances.Start(ctx, db, instances.Options{Kind: instances.Process, Log: quiet(), Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	// An instance that died an hour ago.
	if _, err := db.Exec(`INSERT INTO instances (kind, name, host, pid, version, started_at, last_seen_at)
	    VALUES ('run', 'gone:1', 'gone', 1, 'v0', now() - interval '2 hours', now() - interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	n, err := instances.DeleteDead(ctx, db, 30*time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("DeleteDead: %d, %v; want the one dead for an hour", n, err)
	}
	if g := list(t, db, time.Now()); len(g) != 1 || g[0].Kind != "process" {
		t.Fatalf("after DeleteDead: %+v, want the live one only", g)
	}
	// Housekeeping with an age of 0 takes the live one too: it comes back.
	if _, err := db.Exec(`DELETE FROM instances`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the row back", func() bool { return len(list(t, db, time.Now())) == 1 })
}
